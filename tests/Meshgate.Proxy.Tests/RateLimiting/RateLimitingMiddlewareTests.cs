using Meshgate.Proxy.RateLimiting;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Tests.RateLimiting;

public sealed class RateLimitingMiddlewareTests
{
    [Fact]
    public void InvokeAsync_RouteWithoutLimit_ReturnsNextsTaskWithoutAllocating()
    {
        var pending = new TaskCompletionSource().Task;
        var middleware = new RateLimitingMiddleware(_ => pending, new RateLimitGate(new RateLimitingMetrics(TestMeters.Factory),
            new Meshgate.Proxy.RateLimiting.Redis.RedisRateLimitStore(Microsoft.Extensions.Logging.Abstractions.NullLogger<Meshgate.Proxy.RateLimiting.Redis.RedisRateLimitStore>.Instance, TimeProvider.System, new Meshgate.Proxy.Redis.RedisConnection()), TimeProvider.System));
        var context = new DefaultHttpContext();
        context.SetEndpoint(new Endpoint(null, new EndpointMetadataCollection(), "no limit"));
        middleware.InvokeAsync(context);

        var before = GC.GetAllocatedBytesForCurrentThread();
        Task? task = null;
        for (var i = 0; i < 1000; i++) task = middleware.InvokeAsync(context);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Same(pending, task); // no async frame of ours around the rest of the pipeline
        Assert.Equal(0, allocated);
    }
}
