using Meshgate.TestKit;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Health;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;

namespace Meshgate.Proxy.Tests.Health;

public class HealthServiceCollectionExtensionsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public void AddMeshgateHealth_CalledTwice_RegistersEachPolicyOnce()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddReverseProxy().AddMeshgateHealth().AddMeshgateHealth();
        using var provider = services.BuildServiceProvider();

        Assert.Single(provider.GetServices<IActiveHealthCheckPolicy>(), p => p.Name == PolicyNames.ActiveHealth);
    }

    [Fact]
    public async Task AddMeshgateHealth_ActiveProbesFailThenRecover_TrafficLeavesAndReturns()
    {
        await using var a = await SwitchableUpstream.StartAsync("a");
        await using var b = await SwitchableUpstream.StartAsync("b");
        var healthCheck = new HealthCheckConfig
        {
            Active = new ActiveHealthCheckConfig
            {
                Enabled = true,
                Interval = TimeSpan.FromMilliseconds(150),
                Timeout = TimeSpan.FromSeconds(2),
                Policy = PolicyNames.ActiveHealth,
                Path = "/healthz",
            },
        };
        var metadata = new Dictionary<string, string> { [MetadataKeys.UnhealthyThreshold] = "2", [MetadataKeys.HealthyThreshold] = "2" };
        await using var proxy = await StartProxyAsync(a, b, healthCheck, metadata);
        using var client = new HttpClient { BaseAddress = new Uri(LoopbackHost.Address(proxy)) };

        await LoopbackHost.WaitUntilAsync(async () => (await Responders(client, 4)).SetEquals(["a", "b"]), Deadline, "both upstreams serve");

        b.Healthy = false;
        await LoopbackHost.WaitUntilAsync(async () => (await Responders(client, 10)).SetEquals(["a"]), Deadline, "only a serves after b's probes fail");
        var bHitsWhileDown = b.Served;
        Assert.True((await Responders(client, 10)).SetEquals(["a"]));
        Assert.Equal(bHitsWhileDown, b.Served);

        b.Healthy = true;
        await LoopbackHost.WaitUntilAsync(async () => (await Responders(client, 4)).SetEquals(["a", "b"]), Deadline, "b serves again after recovering");
    }

    private static Task<WebApplication> StartProxyAsync(SwitchableUpstream first, SwitchableUpstream second, HealthCheckConfig healthCheck, IReadOnlyDictionary<string, string> metadata)
    {
        var cluster = new ClusterConfig
        {
            ClusterId = "backends",
            LoadBalancingPolicy = PolicyNames.RoundRobin,
            HealthCheck = healthCheck,
            Metadata = metadata,
            Destinations = new Dictionary<string, DestinationConfig>
            {
                [first.Name] = new() { Address = first.Endpoint },
                [second.Name] = new() { Address = second.Endpoint },
            },
        };
        var route = new RouteConfig { RouteId = "all", ClusterId = "backends", Match = new RouteMatch { Path = "/{**rest}" } };
        return LoopbackHost.StartAsync(
            builder => builder.Services.AddReverseProxy().LoadFromMemory([route], [cluster]).AddMeshgateLoadBalancing().AddMeshgateHealth(),
            app => app.MapReverseProxy());
    }

    /// <summary>Which upstreams answered the next <paramref name="count"/> requests.</summary>
    private static async Task<HashSet<string>> Responders(HttpClient client, int count)
    {
        var names = new HashSet<string>();
        for (var i = 0; i < count; i++)
        {
            using var response = await client.GetAsync("/work");
            names.Add(await response.Content.ReadAsStringAsync());
        }

        return names;
    }
}
