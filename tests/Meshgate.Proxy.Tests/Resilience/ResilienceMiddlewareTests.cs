using System.Diagnostics.Metrics;
using System.Net.Http;
using Meshgate.Configuration;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Resilience;
using Meshgate.Proxy.Resilience.Retries;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.Resilience;

public sealed class ResilienceMiddlewareTests
{
    private static readonly IMeterFactory Meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();

    private const string Yaml = """
        listeners: [{ name: p, address: 127.0.0.1:8080 }]
        clusters:
          - { id: cluster, endpoints: [http://a.example, http://b.example] }
        resilience:
          p: { retries: { attempts: 3, backoff: { base: 0s } } }
        routes:
          - { id: r, match: { path: /x }, cluster: cluster, resilience: p }
        """;

    private sealed class ConnectFailed : IForwarderErrorFeature
    {
        public ForwarderError Error => ForwarderError.Request;
        public Exception? Exception { get; } = new HttpRequestException(HttpRequestError.ConnectionError, "refused");
    }

    [Fact]
    public void InvokeAsync_RouteWithoutPolicy_ReturnsNextsTaskItself()
    {
        var snapshot = ConfigLoader.Load(Yaml, "t.yaml", TestKit.TempDirectory.Create()).Snapshot!;
        var pending = new TaskCompletionSource().Task;
        var middleware = new ResilienceMiddleware(_ => pending, new RetryBudgets(), new SnapshotAccessor(snapshot), new ResilienceMetrics(Meters), NullLogger<ResilienceMiddleware>.Instance);
        var context = new DefaultHttpContext();
        context.SetEndpoint(new Endpoint(null, new EndpointMetadataCollection(), "r"));

        // Same task: no state machine, no allocation of our own on the plain route.
        Assert.Same(pending, middleware.InvokeAsync(context));
    }

    [Fact]
    public async Task InvokeAsync_ConnectFailures_RetriesOnAnotherEndpointAndCountsAttempts()
    {
        var snapshot = ConfigLoader.Load(Yaml, "t.yaml", TestKit.TempDirectory.Create()).Snapshot!;
        var a = TestModels.Destination("a");
        var b = TestModels.Destination("b");
        var cluster = TestModels.Cluster();
        cluster.DestinationsState = new ClusterDestinationsState([a, b], [a, b]);
        var route = new RouteModel(new RouteConfig { RouteId = "r", ClusterId = "cluster" }, cluster, HttpTransformer.Empty);

        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        var record = new RequestRecord();
        context.Features.Set(record);
        context.SetEndpoint(new Endpoint(null, new EndpointMetadataCollection(
            new RouteResilience(snapshot.RoutePolicies["r"].Resilience!, TimeProvider.System, new SeededRandomSource(1)), route), "r"));
        var feature = new ReverseProxyFeature { Route = route, Cluster = cluster.Model, AllDestinations = [a, b], AvailableDestinations = [a, b] };
        context.Features.Set<IReverseProxyFeature>(feature);

        var picked = new List<string>();
        // The forwarder's stand-in sits behind the attempt-counting step, as in the real proxy pipeline.
        RequestDelegate forwarder = ctx =>
        {
            var proxy = ctx.GetReverseProxyFeature();
            proxy.ProxiedDestination = proxy.AvailableDestinations[0];
            picked.Add(proxy.ProxiedDestination.DestinationId);
            if (picked.Count < 3)
            {
                ctx.Features.Set<IForwarderErrorFeature>(new ConnectFailed());
                ctx.Response.StatusCode = StatusCodes.Status502BadGateway;
            }
            return Task.CompletedTask;
        };
        var middleware = new ResilienceMiddleware(new Meshgate.Proxy.Observability.AccessLog.UpstreamAttempts(forwarder, new Meshgate.Proxy.Observability.Metrics.GatewayMetrics(Meters, false)).InvokeAsync,
            new RetryBudgets(), new SnapshotAccessor(snapshot), new ResilienceMetrics(Meters), NullLogger<ResilienceMiddleware>.Instance);

        await middleware.InvokeAsync(context);

        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        Assert.Null(context.Features.Get<IForwarderErrorFeature>());
        Assert.Equal(3, record.Attempts);
        Assert.Equal(["a", "b", "a"], picked);
    }
}
