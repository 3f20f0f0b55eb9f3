using Meshgate.Configuration;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Resilience.CircuitBreaking;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.Resilience.CircuitBreaking;

/// <summary>The two limit steps with a fake next; the real pipeline is covered by the integration tests.</summary>
public sealed class CircuitBreakingMiddlewareTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly CircuitBreakers _breakers;

    public CircuitBreakingMiddlewareTests() =>
        _breakers = new CircuitBreakers(new CircuitBreakingMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), new ManualClock(), NullLogger<CircuitBreakers>.Instance);

    public void Dispose() => _services.Dispose();

    private static SnapshotAccessor Snapshots(string circuitBreaker)
    {
        var yaml = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nroutes: [{ id: r, match: { path: /r }, cluster: orders }]\n"
            + "clusters:\n  - id: orders\n    endpoints: [http://10.0.0.1]\n" + (circuitBreaker.Length > 0 ? $"    circuitBreaker: {circuitBreaker}\n" : "");
        var result = ConfigLoader.Load(yaml, "meshgate.yaml", TestKit.TempDirectory.Create());
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return new SnapshotAccessor(result.Snapshot!);
    }

    private static DefaultHttpContext Request(DestinationState? chosen = null)
    {
        var context = new DefaultHttpContext { RequestServices = new ServiceCollection().BuildServiceProvider() };
        context.Response.Body = new MemoryStream();
        var cluster = new ClusterModel(new ClusterConfig { ClusterId = "orders" }, new HttpMessageInvoker(new SocketsHttpHandler()));
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature
        {
            Cluster = cluster,
            Route = null!,
            AllDestinations = [],
            AvailableDestinations = chosen is null ? [] : [chosen],
        });
        return context;
    }

    [Theory]
    [InlineData("orders", "orders; limit=max-concurrent-requests")]
    [InlineData("orders-v2.eu_1", "orders-v2.eu_1; limit=max-concurrent-requests")]
    [InlineData("café orders", "caf%C3%A9%20orders; limit=max-concurrent-requests")]
    public void HeaderValue_ClusterId_IsHeaderSafe(string clusterId, string expected) =>
        Assert.Equal(expected, new CircuitBreakers.ClusterCircuit(clusterId).HeaderValue(CircuitLimit.MaxConcurrentRequests, "max-concurrent-requests"));

    [Fact]
    public void InvokeAsync_ClusterWithoutLimits_ReturnsNextTaskItself()
    {
        // The same Task object: no async frame and no state machine for a cluster without limits.
        var pending = new TaskCompletionSource();
        RequestDelegate next = _ => pending.Task;
        var concurrent = new ConcurrentRequestsLimitMiddleware(next, Snapshots(""), _breakers);
        var perEndpoint = new PendingRequestsLimitMiddleware(next, Snapshots(""), _breakers);

        Assert.Same(pending.Task, concurrent.InvokeAsync(Request()));
        Assert.Same(pending.Task, perEndpoint.InvokeAsync(Request(TestModels.Destination("a"))));
        Assert.Null(_breakers.DescribeCircuit("orders"));
    }

    [Fact]
    public async Task InvokeAsync_AtMaxConcurrentRequests_Refuses503WithHeaderAndWithoutCallingNext()
    {
        var release = new TaskCompletionSource();
        var calls = 0;
        var step = new ConcurrentRequestsLimitMiddleware(_ => { calls++; return release.Task; }, Snapshots("{ maxConcurrentRequests: 2 }"), _breakers);

        var first = step.InvokeAsync(Request());
        var second = step.InvokeAsync(Request());
        var refused = Request();
        await step.InvokeAsync(refused);

        Assert.Equal(2, calls);
        Assert.Equal(503, refused.Response.StatusCode);
        Assert.Equal("application/problem+json", refused.Response.ContentType);
        Assert.Equal("circuit-open", refused.Response.Headers["x-meshgate-error"]);
        Assert.Equal(new CircuitView(2, 1, 0), _breakers.DescribeCircuit("orders"));

        release.SetResult();
        await Task.WhenAll(first, second);
        Assert.Equal(new CircuitView(0, 1, 0), _breakers.DescribeCircuit("orders"));
        await step.InvokeAsync(Request());
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task InvokeAsync_NextThrows_ReleasesTheSlot()
    {
        var step = new ConcurrentRequestsLimitMiddleware(_ => throw new InvalidOperationException("upstream step failed"), Snapshots("{ maxConcurrentRequests: 1 }"), _breakers);

        await Assert.ThrowsAsync<InvalidOperationException>(() => step.InvokeAsync(Request()));
        await Assert.ThrowsAsync<InvalidOperationException>(() => step.InvokeAsync(Request()));

        Assert.Equal(0, _breakers.DescribeCircuit("orders")!.ActiveRequests);
    }

    [Fact]
    public async Task InvokeAsync_PendingBeyondLimitOnOneEndpoint_RefusesOnlyThatEndpoint()
    {
        var release = new TaskCompletionSource();
        var step = new PendingRequestsLimitMiddleware(_ => release.Task, Snapshots("{ maxConnectionsPerEndpoint: 1, maxPendingRequests: 1 }"), _breakers);
        var a = TestModels.Destination("a");
        var b = TestModels.Destination("b");

        var inFlight = new[] { step.InvokeAsync(Request(a)), step.InvokeAsync(Request(a)) };
        var refused = Request(a);
        await step.InvokeAsync(refused);
        var otherEndpoint = step.InvokeAsync(Request(b));

        Assert.Equal(503, refused.Response.StatusCode);
        Assert.False(otherEndpoint.IsCompleted);
        Assert.Equal(new CircuitView(0, 0, 1), _breakers.DescribeCircuit("orders"));
        release.SetResult();
        await Task.WhenAll([.. inFlight, otherEndpoint]);
    }
}
