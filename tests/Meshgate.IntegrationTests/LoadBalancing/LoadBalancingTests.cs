using System.Text.Json;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.LoadBalancing;

/// <summary>Each load-balancing policy through the real gateway, counted by which upstream answered.</summary>
public sealed class LoadBalancingTests : IAsyncLifetime
{
    private readonly List<TestUpstream> _upstreams = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var upstream in _upstreams) await upstream.DisposeAsync();
    }

    private async Task<TestUpstream[]> NamedAsync(params string[] names)
    {
        var started = new List<TestUpstream>();
        foreach (var name in names) started.Add(await TestUpstream.NamedAsync(name));
        _upstreams.AddRange(started);
        return [.. started];
    }

    private static string Cluster(string loadBalancing, string endpoints, string extra = "") => $$"""
        routes:
          - { id: all, match: { path: "/{**rest}" }, cluster: pool }
        clusters:
          - id: pool
            loadBalancing: {{loadBalancing}}
            endpoints: [{{endpoints}}]
        {{extra}}
        """;

    private static string Endpoints(IEnumerable<TestUpstream> upstreams) => string.Join(", ", upstreams.Select(u => $"\"{u.Endpoint}\""));

    private static async Task<List<string>> SequenceAsync(TestGateway gateway, int count, Action<HttpRequestMessage>? setup = null)
    {
        var picks = new List<string>();
        for (var i = 0; i < count; i++) picks.Add(await gateway.UpstreamForAsync("/x", setup));
        return picks;
    }

    [Fact]
    public async Task RoundRobin_EqualWeights_ExactRotation()
    {
        var upstreams = await NamedAsync("a", "b", "c");
        await using var gateway = await TestGateway.StartAsync(Cluster("round-robin", Endpoints(upstreams)));

        var picks = await SequenceAsync(gateway, 30);

        Assert.Equal(3, picks.Take(3).Distinct().Count());
        for (var i = 3; i < picks.Count; i++) Assert.Equal(picks[i - 3], picks[i]);
        Assert.All(picks.GroupBy(p => p), g => Assert.Equal(10, g.Count()));
    }

    [Fact]
    public async Task RoundRobin_Weights3To1_Exactly75To25()
    {
        var upstreams = await NamedAsync("heavy", "light");
        await using var gateway = await TestGateway.StartAsync(Cluster("round-robin",
            $"{{ url: \"{upstreams[0].Endpoint}\", weight: 3 }}, {{ url: \"{upstreams[1].Endpoint}\", weight: 1 }}"));

        var picks = await SequenceAsync(gateway, 40);

        Assert.Equal(30, picks.Count(p => p == "heavy"));
        Assert.Equal(10, picks.Count(p => p == "light"));
    }

    [Fact]
    public async Task Random_Spreads_EachGetsAtLeastAFifth()
    {
        var upstreams = await NamedAsync("a", "b", "c");
        await using var gateway = await TestGateway.StartAsync(Cluster("random", Endpoints(upstreams)));

        var picks = await SequenceAsync(gateway, 300);

        foreach (var name in new[] { "a", "b", "c" }) Assert.InRange(picks.Count(p => p == name), 60, 300);
    }

    [Fact]
    public async Task ConsistentHash_OnHeader_StickyAndMovesOnlyToAddedEndpoint()
    {
        var upstreams = await NamedAsync("a", "b", "c", "d");
        const string hashOn = "    hashOn: { header: x-user }";
        await using var gateway = await TestGateway.StartAsync(Cluster("consistent-hash", Endpoints(upstreams[..3]), hashOn));
        var keys = Enumerable.Range(0, 200).Select(i => $"user-{i}").ToList();

        var before = new Dictionary<string, string>();
        foreach (var key in keys) before[key] = await gateway.UpstreamForAsync("/x", r => r.Headers.Add("x-user", key));
        Assert.Equal(3, before.Values.Distinct().Count());
        foreach (var key in keys.Take(20)) Assert.Equal(before[key], await gateway.UpstreamForAsync("/y", r => r.Headers.Add("x-user", key)));

        var generation = await gateway.GenerationAsync();
        await gateway.RewriteConfigAsync(Cluster("consistent-hash", Endpoints(upstreams), hashOn));
        await Eventually.HoldsAsync(async () => await gateway.GenerationAsync() > generation, TimeSpan.FromSeconds(10), "the rewritten config is applied");
        await Eventually.HoldsAsync(async () =>
        {
            using var clusters = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/clusters"));
            return clusters.RootElement[0].GetProperty("availableEndpoints").GetInt32() == 4;
        }, TimeSpan.FromSeconds(5), "the cluster has the fourth endpoint");

        var moved = new List<(string Key, string To)>();
        foreach (var key in keys)
        {
            var now = await gateway.UpstreamForAsync("/x", r => r.Headers.Add("x-user", key));
            if (now != before[key]) moved.Add((key, now));
        }
        Assert.InRange(moved.Count, 20, 80);
        Assert.All(moved, m => Assert.Equal("d", m.To));
    }

    /// <summary>An upstream that holds every /hold request open until released, and answers anything else at once.</summary>
    private sealed class BusyUpstream : IAsyncDisposable
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _held;

        public TestUpstream Upstream { get; private set; } = null!;

        public static async Task<BusyUpstream> StartAsync(string name)
        {
            var busy = new BusyUpstream();
            busy.Upstream = await TestUpstream.StartAsync(app =>
            {
                app.Use((context, next) =>
                {
                    context.Response.Headers["x-upstream"] = name;
                    return next(context);
                });
                app.MapGet("/hold", async context =>
                {
                    Interlocked.Increment(ref busy._held);
                    await busy._release.Task.WaitAsync(context.RequestAborted);
                    await context.Response.WriteAsync("released");
                });
                app.Map("/{**rest}", () => name);
            });
            return busy;
        }

        public int Held => Volatile.Read(ref _held);

        public void Release() => _release.TrySetResult();

        public async ValueTask DisposeAsync()
        {
            Release();
            await Upstream.DisposeAsync();
        }
    }

    [Theory]
    [InlineData("least-requests")]
    [InlineData("power-of-two-choices")]
    public async Task LoadAware_PrefersLessBusyEndpoint(string policy)
    {
        await using var slow = await BusyUpstream.StartAsync("slow");
        await using var fast = await BusyUpstream.StartAsync("fast");
        await using var gateway = await TestGateway.StartAsync(Cluster(policy, Endpoints([slow.Upstream, fast.Upstream])));
        var held = new List<Task<HttpResponseMessage>>();
        List<string> picks;
        try
        {
            // Both hold their share of six requests; then only the fast one lets go, leaving the slow one busy.
            for (var i = 1; i <= 6; i++)
            {
                held.Add(gateway.Client.GetAsync("/hold"));
                await Eventually.HoldsAsync(() => Task.FromResult(slow.Held + fast.Held == i), TimeSpan.FromSeconds(5), $"{i} requests are held");
            }
            Assert.True(slow.Held >= 2, $"{policy} put {slow.Held} of 6 held requests on one of two idle endpoints");
            fast.Release();
            await Eventually.HoldsAsync(() => Task.FromResult(held.Count(t => t.IsCompleted) == fast.Held), TimeSpan.FromSeconds(5), "the fast endpoint's requests finish");

            picks = await SequenceAsync(gateway, 20);
        }
        finally
        {
            slow.Release();
            fast.Release();
            foreach (var response in await Task.WhenAll(held).WaitAsync(TimeSpan.FromSeconds(10))) response.Dispose();
        }

        Assert.True(picks.Count(p => p == "fast") >= 18, $"{policy} with {slow.Held} requests open on 'slow': {string.Join(",", picks)}");
    }
}
