using Meshgate.TestKit;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;

namespace Meshgate.Proxy.Tests.LoadBalancing;

public class LoadBalancingServiceCollectionExtensionsTests
{
    [Fact]
    public void AddMeshgateLoadBalancing_CalledTwice_RegistersEachPolicyOnce()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddReverseProxy().AddMeshgateLoadBalancing().AddMeshgateLoadBalancing();
        using var provider = services.BuildServiceProvider();

        var names = provider.GetServices<ILoadBalancingPolicy>().Select(p => p.Name).ToList();

        foreach (var name in new[] { PolicyNames.RoundRobin, PolicyNames.LeastRequests, PolicyNames.PowerOfTwoChoices, PolicyNames.Random, PolicyNames.ConsistentHash })
        {
            Assert.Single(names, name);
        }
    }

    [Fact]
    public void AddMeshgateLoadBalancing_RandomSourceRegisteredFirst_KeepsIt()
    {
        var services = new ServiceCollection();
        var seeded = new SeededRandomSource(1);
        services.AddSingleton<IRandomSource>(seeded);
        services.AddReverseProxy().AddMeshgateLoadBalancing();
        using var provider = services.BuildServiceProvider();

        Assert.Same(seeded, provider.GetRequiredService<IRandomSource>());
    }

    [Fact]
    public async Task AddMeshgateLoadBalancing_RoundRobinClusterOverRealKestrel_AlternatesExactly()
    {
        await using var a = await SwitchableUpstream.StartAsync("a");
        await using var b = await SwitchableUpstream.StartAsync("b");
        var cluster = new ClusterConfig
        {
            ClusterId = "backends",
            LoadBalancingPolicy = PolicyNames.RoundRobin,
            Destinations = new Dictionary<string, DestinationConfig>
            {
                ["a"] = new() { Address = a.Endpoint },
                ["b"] = new() { Address = b.Endpoint },
            },
        };
        var route = new RouteConfig { RouteId = "all", ClusterId = "backends", Match = new RouteMatch { Path = "/{**rest}" } };
        await using var proxy = await LoopbackHost.StartAsync(
            builder => builder.Services.AddReverseProxy().LoadFromMemory([route], [cluster]).AddMeshgateLoadBalancing(),
            app => app.MapReverseProxy());
        using var client = new HttpClient { BaseAddress = new Uri(LoopbackHost.Address(proxy)) };

        var bodies = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            bodies.Add(await client.GetStringAsync($"/item/{i}"));
        }

        Assert.Equal(5, bodies.Count(x => x == "a"));
        Assert.Equal(5, bodies.Count(x => x == "b"));
        for (var i = 1; i < bodies.Count; i++)
        {
            Assert.NotEqual(bodies[i - 1], bodies[i]);
        }
    }
}
