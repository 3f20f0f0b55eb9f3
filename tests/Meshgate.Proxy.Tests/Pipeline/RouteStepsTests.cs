using Meshgate.Configuration;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Cors;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Meshgate.Proxy.Tests.Pipeline;

public sealed class RouteStepsTests
{
    private const string Hash = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    private static ConfigSnapshot Snapshot(string circuitBreaker = "")
    {
        var yaml = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\n"
            + "routes:\n"
            + "  - { id: plain, match: { path: /plain }, cluster: orders }\n"
            + "  - { id: keyed, match: { path: /keyed }, cluster: orders, auth: [keys] }\n"
            + "  - id: faulty\n    match: { path: /faulty }\n    cluster: orders\n    faults: { abort: { status: 503, percent: 50 } }\n"
            + "  - id: split\n    match: { path: /split }\n    split: [{ cluster: orders, weight: 90 }, { cluster: limited, weight: 10 }]\n"
            + "  - { id: limited, match: { path: /limited }, cluster: limited }\n"
            + "authentication:\n  keys:\n    apiKeys: { header: x-api-key, consumers: { a: { keys: [" + Hash + "] } } }\n"
            + "clusters:\n  - id: orders\n    endpoints: [http://10.0.0.1]\n"
            + "  - id: limited\n    endpoints: [http://10.0.0.2]\n" + (circuitBreaker.Length > 0 ? $"    circuitBreaker: {circuitBreaker}\n" : "");
        var result = ConfigLoader.Load(yaml, "meshgate.yaml", Path.GetTempPath());
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return result.Snapshot!;
    }

    private static EndpointBuilder Endpoint(params object[] metadata)
    {
        var builder = new RouteEndpointBuilder(_ => Task.CompletedTask, RoutePatternFactory.Parse("/"), 0);
        foreach (var item in metadata) builder.Metadata.Add(item);
        return builder;
    }

    [Fact]
    public void For_RouteWithNothingOnIt_SkipsEveryStep()
    {
        var steps = RouteSteps.For(Endpoint(), Snapshot(), "plain", "orders", tracing: false);

        Assert.Equal(RouteStep.None, steps.Steps);
        Assert.True(steps.SkipsRouteSteps);
        Assert.True(steps.SkipsProxySteps);
    }

    [Fact]
    public void For_AnyRouteStepOnTheEndpoint_NamesIt()
    {
        // Each is what one of slots 5a-10 looks up: CORS (YARP's attribute or ours), authorization, faults.
        var snapshot = Snapshot();
        AssertRouteStep(RouteStep.Cors, RouteSteps.For(Endpoint(new EnableCorsAttribute()), snapshot, "plain", "orders", tracing: false));
        AssertRouteStep(RouteStep.Faults, RouteSteps.For(Endpoint(snapshot.RoutePolicies["faulty"].Faults!), snapshot, "faulty", "orders", tracing: false));
        AssertRouteStep(RouteStep.Authorization, RouteSteps.For(Endpoint(new Configuration.Compilation.AuthorizationPolicy("p", [], [], false)), snapshot, "plain", "orders", tracing: false));
    }

    private static void AssertRouteStep(RouteStep step, RouteSteps steps)
    {
        Assert.Equal(step, steps.Steps);
        Assert.False(steps.SkipsRouteSteps);
        // A route step alone leaves the proxy steps nothing to do.
        Assert.True(steps.SkipsProxySteps);
    }

    [Fact]
    public void For_RouteWithAuthentication_NamesIt()
    {
        // The authentication step reads the snapshot by route id, not the endpoint.
        AssertRouteStep(RouteStep.Authentication, RouteSteps.For(Endpoint(), Snapshot(), "keyed", "orders", tracing: false));
    }

    [Fact]
    public void For_SplitTracingOrConcurrencyLimit_KeepsTheProxySteps()
    {
        var snapshot = Snapshot();
        var split = RouteSteps.For(Endpoint(snapshot.RoutePolicies["split"].Split!), snapshot, "split", "orders", tracing: false);
        Assert.Equal(RouteStep.TrafficSplit, split.Steps);
        Assert.False(split.SkipsProxySteps);
        Assert.True(split.SkipsRouteSteps);
        Assert.False(RouteSteps.For(Endpoint(), snapshot, "plain", "orders", tracing: true).SkipsProxySteps);
        Assert.False(RouteSteps.For(Endpoint(), Snapshot("{ maxConcurrentRequests: 10 }"), "limited", "limited", tracing: false).SkipsProxySteps);
        Assert.True(RouteSteps.For(Endpoint(), Snapshot("{ maxPendingRequests: 10, maxConnectionsPerEndpoint: 4 }"), "limited", "limited", tracing: false).SkipsProxySteps);
        // A cluster the snapshot does not hold: the steps decide.
        Assert.False(RouteSteps.For(Endpoint(), snapshot, "plain", "gone", tracing: false).SkipsProxySteps);
    }

    [Fact]
    public void Holds_OnlyWhileItsSnapshotIsCurrent()
    {
        // An endpoint of an older config takes every step until YARP has rebuilt it from the current one.
        var snapshot = Snapshot();
        var snapshots = new SnapshotAccessor(snapshot);
        var steps = RouteSteps.For(Endpoint(), snapshot, "plain", "orders", tracing: false);

        Assert.True(steps.Holds(snapshots));
        snapshots.Publish(Snapshot());
        Assert.False(steps.Holds(snapshots));
    }
}
