using Meshgate.Proxy.Caching;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.Proxy.Tests.Caching;

public sealed class ResponseCacheMiddlewareTests
{
    [Fact]
    public void Invoke_RouteWithoutCache_ReturnsNextsTaskItself()
    {
        var next = new TaskCompletionSource().Task;
        var middleware = new ResponseCacheMiddleware(_ => next, new CacheStores(), TimeProvider.System, new ServiceCollection().BuildServiceProvider());
        var context = new DefaultHttpContext();
        context.SetEndpoint(new Endpoint(null, EndpointMetadataCollection.Empty, "test"));

        // The very task next returned: no state machine, no extra frame on a route without a cache.
        Assert.Same(next, middleware.InvokeAsync(context));
    }
}
