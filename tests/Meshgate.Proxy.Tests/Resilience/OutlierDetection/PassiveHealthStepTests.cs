using Meshgate.Proxy.Resilience.OutlierDetection;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.Resilience.OutlierDetection;

/// <summary>The passive health step with a fake next and policy; outlier detection end to end is in the integration tests.</summary>
public sealed class PassiveHealthStepTests
{
    private sealed class RecordingPolicy : IPassiveHealthCheckPolicy
    {
        public string Name => HealthCheckConstants.PassivePolicy.TransportFailureRate;
        public List<string> Proxied { get; } = [];
        public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination) => Proxied.Add(destination.DestinationId);
    }

    private static DefaultHttpContext Request(PassiveHealthCheckConfig? passive, DestinationState destination)
    {
        var context = new DefaultHttpContext { RequestServices = new ServiceCollection().BuildServiceProvider() };
        var cluster = TestModels.Cluster(healthCheck: passive is null ? null : new HealthCheckConfig { Passive = passive });
        var route = new RouteModel(new RouteConfig { RouteId = "r", ClusterId = "cluster" }, cluster, HttpTransformer.Empty);
        context.SetEndpoint(new Endpoint(null, new EndpointMetadataCollection(route), "r"));
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature
        {
            Route = route,
            Cluster = cluster.Model,
            AllDestinations = [destination],
            AvailableDestinations = [destination],
            ProxiedDestination = destination,
        });
        return context;
    }

    public static TheoryData<PassiveHealthCheckConfig?> WithoutPassiveHealth => new()
    {
        null,
        new PassiveHealthCheckConfig { Enabled = false },
        new PassiveHealthCheckConfig { Enabled = null },
    };

    [Theory]
    [MemberData(nameof(WithoutPassiveHealth))]
    public void InvokeAsync_ClusterWithoutPassiveHealth_ReturnsNextTaskItselfAndReportsNothing(PassiveHealthCheckConfig? passive)
    {
        // The same Task object: no async frame and no state machine for a cluster that does not enable passive health.
        var pending = new TaskCompletionSource();
        var policy = new RecordingPolicy();
        var step = new PassiveHealthStep(_ => pending.Task, [policy]);

        Assert.Same(pending.Task, step.InvokeAsync(Request(passive, TestModels.Destination("a"))));
        pending.SetResult();
        Assert.Empty(policy.Proxied);
    }

    [Fact]
    public async Task InvokeAsync_ClusterWithPassiveHealth_ReportsTheAttemptAfterNextFinishes()
    {
        var pending = new TaskCompletionSource();
        var policy = new RecordingPolicy();
        var step = new PassiveHealthStep(_ => pending.Task, [policy]);

        var task = step.InvokeAsync(Request(new PassiveHealthCheckConfig { Enabled = true }, TestModels.Destination("a")));
        Assert.Empty(policy.Proxied);
        pending.SetResult();
        await task;

        Assert.Equal(["a"], policy.Proxied);
    }
}
