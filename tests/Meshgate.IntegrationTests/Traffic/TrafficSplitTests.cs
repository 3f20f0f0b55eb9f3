using System.Collections.Concurrent;
using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Traffic;

public sealed class TrafficSplitTests : IAsyncLifetime
{
    private TestUpstream _stable = null!, _canary = null!;

    public async Task InitializeAsync()
    {
        _stable = await TestUpstream.NamedAsync("stable");
        _canary = await TestUpstream.NamedAsync("canary");
    }

    public async Task DisposeAsync()
    {
        await _stable.DisposeAsync();
        await _canary.DisposeAsync();
    }

    private string Config(int stableWeight, int canaryWeight, string extra = "") => $$"""
        routes:
          - id: orders
            match: { pathPrefix: /orders }
            split: [ { cluster: orders, weight: {{stableWeight}} }, { cluster: orders-v2, weight: {{canaryWeight}} } ]
        {{extra}}
        clusters:
          - id: orders
            endpoints: ["{{_stable.Endpoint}}"]
          - id: orders-v2
            endpoints: ["{{_canary.Endpoint}}"]
        """;

    [Fact]
    public async Task Split_90_10_Over10000Requests_SharesWithinStatisticalBounds()
    {
        await using var gateway = await TestGateway.StartAsync(Config(90, 10));

        var answers = await TrafficLoad.SendAsync(gateway, "/orders/1", 10_000);

        Assert.Equal(10_000, answers.GetValueOrDefault("stable") + answers.GetValueOrDefault("canary"));
        TrafficLoad.AssertShare(answers.GetValueOrDefault("canary"), 10_000, 0.10, "canary share");
    }

    [Fact]
    public async Task SplitByHeader_SameValueSameCluster_DistributionAcrossValuesNearWeights()
    {
        await using var gateway = await TestGateway.StartAsync(Config(90, 10, "    splitBy: { header: x-user }"));

        // Every user, many times: one cluster per user.
        var byUser = new ConcurrentDictionary<string, ConcurrentBag<string>>();
        for (var round = 0; round < 10; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 40).Select(async user =>
            {
                var answer = await gateway.UpstreamForAsync("/orders", r => r.Headers.Add("x-user", $"user-{user}"));
                byUser.GetOrAdd($"user-{user}", _ => []).Add(answer);
            }));
        }
        Assert.All(byUser, pair => Assert.Single(pair.Value.Distinct()));

        // Many users, once each: about 10% on the canary.
        var answers = await TrafficLoad.SendAsync(gateway, "/orders", 3000, setup: (r, i) => r.Headers.Add("x-user", $"customer-{i}@example.com"));
        Assert.Equal(3000, answers.GetValueOrDefault("stable") + answers.GetValueOrDefault("canary"));
        TrafficLoad.AssertShare(answers.GetValueOrDefault("canary"), 3000, 0.10, "canary share over distinct users");
    }

    [Fact]
    public async Task SplitByCookie_SameSessionSameCluster_NoCookieStillSplits()
    {
        await using var gateway = await TestGateway.StartAsync(Config(50, 50, "    splitBy: { cookie: session }"));

        for (var session = 0; session < 20; session++)
        {
            var answers = new HashSet<string>();
            for (var i = 0; i < 8; i++) answers.Add(await gateway.UpstreamForAsync("/orders", r => r.Headers.Add("Cookie", $"theme=dark; session=s{session}")));
            Assert.Single(answers);
        }
        var anonymous = await TrafficLoad.SendAsync(gateway, "/orders", 400);
        TrafficLoad.AssertShare(anonymous.GetValueOrDefault("canary"), 400, 0.5, "requests without the cookie are split at random");
    }

    [Fact]
    public async Task SplitOverride_HeaderValueForcesCluster_OtherValuesFollowWeights()
    {
        await using var gateway = await TestGateway.StartAsync(Config(100, 0, "    splitOverride: { header: x-canary, values: { always: orders-v2, never: orders } }"));

        var always = await TrafficLoad.SendAsync(gateway, "/orders", 200, setup: (r, _) => r.Headers.Add("x-canary", "Always"));
        var never = await TrafficLoad.SendAsync(gateway, "/orders", 200, setup: (r, _) => r.Headers.Add("x-canary", "never"));
        var other = await TrafficLoad.SendAsync(gateway, "/orders", 200, setup: (r, _) => r.Headers.Add("x-canary", "sometimes"));

        Assert.Equal(200, always.GetValueOrDefault("canary")); // weight 0, but forced
        Assert.Equal(200, never.GetValueOrDefault("stable"));
        Assert.Equal(200, other.GetValueOrDefault("stable"));
    }

    [Fact]
    public async Task Reload_WeightsChangeUnderLoad_NoRequestFails()
    {
        await using var gateway = await TestGateway.StartAsync(Config(100, 0));
        await using var load = UpstreamLoad.Start(gateway.Client, "/orders", requestsPerLoop: 5000, bound: TimeSpan.FromSeconds(30));

        await Task.Delay(300);
        Assert.Equal(0, load.SeenFrom("canary"));
        await gateway.RewriteConfigAsync(Config(0, 100));
        await Eventually.HoldsAsync(async () => await gateway.GenerationAsync() == 2, TimeSpan.FromSeconds(10), "the new weights are applied");
        var stableAfterReload = load.SeenFrom("stable");
        await Eventually.HoldsAsync(() => Task.FromResult(load.SeenFrom("canary") > 200), TimeSpan.FromSeconds(10), "traffic moves to the canary");
        var stableLater = load.SeenFrom("stable");
        await load.StopAsync();

        Assert.Equal(0, load.Failures);
        Assert.InRange(stableLater - stableAfterReload, 0, 8); // at most the requests in flight at the swap
    }
}
