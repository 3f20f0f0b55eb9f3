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
        var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var middleware = new ResponseCacheMiddleware(_ => next, TimeProvider.System, services, new CachingMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        var context = new DefaultHttpContext();
        context.SetEndpoint(new Endpoint(null, EndpointMetadataCollection.Empty, "test"));

        // The very task next returned: no state machine, no extra frame on a route without a cache.
        Assert.Same(next, middleware.InvokeAsync(context));
    }
}
