using System.Diagnostics;
using System.Text.Json;
using Meshgate.Configuration.Sources.Etcd.Canary;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.EtcdConfig;

/// <summary>
/// `meshgate config push --canary` against three real gateway nodes on a real etcd, with load on every node: a good
/// candidate is promoted everywhere, a bad one (its route answers 500) rolled back everywhere, and a canary whose
/// command is killed, or whose deadline passes, ends with every node back on the config in etcd.
/// </summary>
[Trait("Runs", "meshgate")]
public sealed class ConfigCanaryTests : IAsyncLifetime
{
    private EtcdServer _etcd = null!;
    private TestUpstream _a = null!;
    private TestUpstream _b = null!;
    private TestUpstream _broken = null!;
    private string _directory = null!;
    private readonly string _prefix = $"/test-{Guid.NewGuid():N}/config/";

    /// <summary>The nodes' canary interval: they take and leave roles within 200 ms.</summary>
    private static readonly TimeSpan Fast = TimeSpan.FromMilliseconds(200);

    private string Config(string cluster) => EtcdNodes.Config($$"""
        routes:
          - id: a
            match: { pathPrefix: /a }
            cluster: {{cluster}}
        clusters:
          - id: a
            endpoints: ["{{_a.Endpoint}}"]
          - id: b
            endpoints: ["{{_b.Endpoint}}"]
          - id: broken
            endpoints: ["{{_broken.Endpoint}}"]
        """);

    public async Task InitializeAsync()
    {
        _etcd = await EtcdServer.StartAsync();
        _a = await TestUpstream.NamedAsync("A");
        _b = await TestUpstream.NamedAsync("B");
        _broken = await TestUpstream.StartAsync(app => app.Map("/{**rest}", (Microsoft.AspNetCore.Http.HttpContext context) =>
        {
            context.Response.Headers["x-upstream"] = "broken";
            context.Response.StatusCode = 500;
            return Task.CompletedTask;
        }));
        _directory = TempDirectory.Create();
        await EtcdNodes.PushAsync(_etcd, _prefix, Config("a"));
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _broken.DisposeAsync();
        await _etcd.DisposeAsync();
    }

    private string[] Push(string file, string share = "30%", string duration = "3s", string minRequests = "20") =>
        ["config", "push", "-c", file, "--etcd", _etcd.StoreUrl, "--prefix", _prefix, "--canary", share,
         "--max-error-rate-increase", "1%", "--max-p99-ratio", "20", "--duration", duration, "--interval", "300ms", "--min-requests", minRequests];

    [Fact]
    public async Task GoodCandidate_OnOneOfThreeNodes_IsPromoted_AndEveryNodeConverges()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 3, Fast);
        await WaitForRegisteredAsync(3);
        var loads = nodes.Clients.Select(c => UpstreamLoad.Start(c, "/a/1", loops: 1, requestsPerLoop: 100_000, bound: TimeSpan.FromSeconds(60))).ToList();
        var file = Write("candidate.yaml", Config("b"));
        using var output = new StringWriter();
        using var error = new StringWriter();
        try
        {
            var push = Cli.RunAsync(Push(file), output, error);

            // While it runs, exactly one node (30% of 3, rounded up) serves the candidate, and says so.
            await Eventually.HoldsAsync(async () => push.IsCompleted || await CountAsync(nodes, "B") == 1, TimeSpan.FromSeconds(10), "one node runs the candidate");
            // Each node learns its role from its own etcd watch, so the baseline nodes may say so a moment after the canary serves.
            var roles = new List<string?>();
            await Eventually.HoldsAsync(async () =>
            {
                roles.Clear();
                for (var node = 0; node < 3; node++) roles.Add((await nodes.CanaryAsync(node)).GetProperty("role").GetString());
                return push.IsCompleted || (roles.Count(r => r == "canary") == 1 && roles.Count(r => r == "baseline") == 2);
            }, TimeSpan.FromSeconds(10), "one canary and two baseline nodes");
            Assert.False(push.IsCompleted, $"the canary ran for its duration: {output}{error}");
            Assert.Equal(1, roles.Count(r => r == "canary"));
            Assert.Equal(2, roles.Count(r => r == "baseline"));

            Assert.True(await push == 0, $"{output}\n{error}");
        }
        finally
        {
            foreach (var load in loads) await load.StopAsync();
        }
        Assert.All(loads, load => Assert.Equal(0, load.Failures));

        Assert.Contains("on 1 of 3 nodes", output.ToString());
        Assert.Matches(@"canary [0-9a-f]+ promoted: within the thresholds .*; canary 1 node, \d+ requests, 0 5xx \(0%\), p99 [0-9.]+ ms; baseline 2 nodes, \d+ requests", output.ToString());
        for (var node = 0; node < 3; node++)
        {
            var at = node;
            await Eventually.HoldsAsync(async () => await nodes.UpstreamAsync(at, "/a/1") == "B", TimeSpan.FromSeconds(5), $"node {at} runs the promoted config");
        }
        using var store = EtcdNodes.Store(_etcd, _prefix);
        var promoted = (await store.ReadAsync()).Revision;
        for (var node = 0; node < 3; node++) Assert.Equal(promoted, await nodes.RevisionAsync(node));

        // Any node's admin API shows the decision and the figures behind it; no canary runs any more.
        await Eventually.HoldsAsync(async () => !(await nodes.CanaryAsync(2)).GetProperty("running").GetBoolean(), TimeSpan.FromSeconds(5), "node 2 sees the canary ended");
        var canary = await nodes.CanaryAsync(2);
        var decision = canary.GetProperty("lastDecision");
        Assert.Equal("promoted", decision.GetProperty("outcome").GetString());
        Assert.Equal(promoted, decision.GetProperty("candidateRevision").GetString());
        Assert.Equal(1, decision.GetProperty("canary").GetProperty("nodes").GetInt32());
        Assert.True(decision.GetProperty("canary").GetProperty("requests").GetInt64() >= 20, decision.ToString());
        Assert.True(decision.GetProperty("baseline").GetProperty("requests").GetInt64() >= 20, decision.ToString());
        Assert.Equal(JsonValueKind.Number, decision.GetProperty("canary").GetProperty("p99Ms").ValueKind);
        Assert.Equal(JsonValueKind.Null, canary.GetProperty("plan").ValueKind);
    }

    [Fact]
    public async Task BadCandidate_RouteAnswers500_IsRolledBackEarly_AndNoNodeKeepsIt()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 3, Fast);
        await WaitForRegisteredAsync(3);
        var before = await nodes.RevisionAsync(0);
        var loads = nodes.Clients.Select(c => UpstreamLoad.Start(c, "/a/1", loops: 1, requestsPerLoop: 100_000, bound: TimeSpan.FromSeconds(60))).ToList();
        var file = Write("broken.yaml", Config("broken"));
        using var output = new StringWriter();
        using var error = new StringWriter();
        var clock = Stopwatch.StartNew();
        int code;
        try
        {
            code = await Cli.RunAsync(Push(file, duration: "30s"), output, error);
        }
        finally
        {
            foreach (var load in loads) await load.StopAsync();
        }

        Assert.True(code == 3, $"{output}\n{error}");
        // Rolled back as soon as the canary had its minimum requests, long before the 30 s.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(25), $"rolled back after {clock.Elapsed}");
        // Nearly 100%: a request the canary node had in flight on the old config when it switched may end after it.
        Assert.Matches(@"canary [0-9a-f]+ rolled back: error rate (9\d(\.\d+)?|100)% on the canary against 0% on the baseline: more than 1% higher; canary 1 node, \d+ requests, \d+ 5xx \((9\d(\.\d+)?|100)%\)", error.ToString());
        for (var node = 0; node < 3; node++)
        {
            var at = node;
            await Eventually.HoldsAsync(async () => await nodes.UpstreamAsync(at, "/a/1") == "A", TimeSpan.FromSeconds(5), $"node {at} is back on the config in etcd");
            Assert.Equal(before, await nodes.RevisionAsync(at));
        }
        using var store = EtcdNodes.Store(_etcd, _prefix);
        Assert.Equal(before, (await store.ReadAsync()).Revision);
        var decision = (await nodes.CanaryAsync(0)).GetProperty("lastDecision");
        Assert.Equal("rolled-back", decision.GetProperty("outcome").GetString());
        Assert.Matches(@"^error rate (9\d(\.\d+)?|100)% on the canary", decision.GetProperty("reason").GetString());
        Assert.True(decision.GetProperty("canary").GetProperty("errorRate").GetDouble() >= 0.9, decision.ToString());
        Assert.Equal(0.0, decision.GetProperty("baseline").GetProperty("errorRate").GetDouble());
    }

    [Fact]
    public async Task PushCommandKilledMidCanary_TheLeaseRunsOut_AndEveryNodeReturnsToTheConfigInEtcd()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 3, Fast);
        await WaitForRegisteredAsync(3);
        var before = await nodes.RevisionAsync(0);
        var file = Write("candidate.yaml", Config("b"));
        await using var push = MeshgateProcess.Start(Push(file, duration: "5m"));
        await push.CheckAsync(() => Eventually.HoldsAsync(async () => await CountAsync(nodes, "B") == 1, TimeSpan.FromSeconds(30), "one node runs the candidate"));

        push.Signal("KILL");
        await push.WaitForExitAsync(TimeSpan.FromSeconds(10));

        // The plan's lease (2 intervals + 1 s) runs out, well before the 5 m deadline.
        for (var node = 0; node < 3; node++)
        {
            var at = node;
            await Eventually.HoldsAsync(async () => await nodes.UpstreamAsync(at, "/a/1") == "A", TimeSpan.FromSeconds(15), $"node {at} is back on the config in etcd");
            Assert.Equal(before, await nodes.RevisionAsync(at));
        }
        await Eventually.HoldsAsync(async () => (await nodes.CanaryAsync(1)).GetProperty("lastDecision").ValueKind == JsonValueKind.Object, TimeSpan.FromSeconds(5), "a decision is recorded");
        var decision = (await nodes.CanaryAsync(1)).GetProperty("lastDecision");
        Assert.Equal("rolled-back", decision.GetProperty("outcome").GetString());
        Assert.Contains("lease ran out", decision.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task PlanPastItsDeadline_IsRemovedByTheNodes_WhichReturnToTheConfigInEtcd()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 2, Fast);
        await WaitForRegisteredAsync(2);
        var before = await nodes.RevisionAsync(0);
        using var config = EtcdNodes.Store(_etcd, _prefix);
        var canaries = new EtcdCanaryStore(config);
        var candidate = config.AsStored(Config("b"));
        var node = (await canaries.ReadNodesAsync()).Select(r => r.Node).Order().First();
        var now = DateTimeOffset.UtcNow;
        // A plan held by no lease, as a command that lost its lease keep-alive might leave it: only the deadline ends it.
        Assert.True(await canaries.CreatePlanAsync(new CanaryPlan("dead1", 50, [node], candidate.Yaml, candidate.Revision, before, now, now + TimeSpan.FromSeconds(3)), lease: 0));

        await Eventually.HoldsAsync(async () => await CountAsync(nodes, "B") == 1, TimeSpan.FromSeconds(5), "the named node runs the candidate");
        await Eventually.HoldsAsync(async () => await CountAsync(nodes, "A") == 2, TimeSpan.FromSeconds(15), "both nodes are back after the deadline");
        Assert.Null((await canaries.ReadPlanAsync()).Plan);
        var decision = await canaries.ReadReadingAsync(canaries.DecisionKey);
        Assert.Equal("rolled-back", decision!.Outcome);
        Assert.Contains("deadline", decision.Reason);
        for (var at = 0; at < 2; at++) Assert.Equal(before, await nodes.RevisionAsync(at));
    }

    [Theory]
    [InlineData("0%", "--canary: expected a share of the nodes above 0% and below 100%, like 10% (got '0%')")]
    [InlineData("150%", "--canary: expected a share of the nodes above 0% and below 100%, like 10% (got '150%')")]
    [InlineData("ten", "--canary: expected a share of the nodes above 0% and below 100%, like 10% (got 'ten')")]
    [InlineData("100%", "--canary: 100% leaves no node on the current config to compare with; push without --canary to apply it everywhere")]
    public async Task Push_BadShare_SaysWhyAndExits1(string share, string message)
    {
        var (code, _, error) = await RunAsync(Push(Write("candidate.yaml", Config("b")), share: share));
        Assert.Equal(1, code);
        Assert.Equal(message, error.Trim());
    }

    [Theory]
    [InlineData(new[] { "--canary", "10%" }, "--canary needs thresholds to judge the candidate by: missing --max-error-rate-increase, --max-p99-ratio, --duration (like --max-error-rate-increase 1% --max-p99-ratio 1.5 --duration 5m)")]
    [InlineData(new[] { "--canary", "10%", "--max-error-rate-increase", "1%", "--max-p99-ratio", "1.5" }, "--canary needs thresholds to judge the candidate by: missing --duration (like --max-error-rate-increase 1% --max-p99-ratio 1.5 --duration 5m)")]
    [InlineData(new[] { "--canary", "10%", "--max-error-rate-increase", "1%", "--max-p99-ratio", "0.5", "--duration", "1m" }, "--max-p99-ratio: expected a number of 1 or more, like 1.5 (got '0.5')")]
    [InlineData(new[] { "--canary", "10%", "--max-error-rate-increase", "1%", "--max-p99-ratio", "2", "--duration", "soon" }, "--duration: expected a duration with a unit, like 30s or 5m (got 'soon')")]
    [InlineData(new[] { "--canary", "10%", "--max-error-rate-increase", "1%", "--max-p99-ratio", "2", "--duration", "10s", "--interval", "1m" }, "--interval (1m) must not be longer than --duration (10s)")]
    [InlineData(new[] { "--canary", "10%", "--max-error-rate-increase", "1%", "--max-p99-ratio", "2", "--duration", "10s", "--min-requests", "0" }, "--min-requests: expected 1 or more (got 0)")]
    [InlineData(new[] { "--duration", "10s" }, "--duration only applies with --canary")]
    public async Task Push_BadCanaryOptions_SaysWhichAndExits1(string[] options, string message)
    {
        var (code, _, error) = await RunAsync(["config", "push", "-c", Write("candidate.yaml", Config("b")), "--etcd", _etcd.StoreUrl, "--prefix", _prefix, .. options]);
        Assert.Equal(1, code);
        Assert.Equal(message, error.Trim());
    }

    [Fact]
    public async Task Push_InvalidCandidate_PrintsTheErrorsExits2_AndStartsNoCanary()
    {
        var file = Write("invalid.yaml", Config("nope"));
        var (code, output, error) = await RunAsync(Push(file));
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("routes[0].cluster: unknown cluster 'nope'", error);
        using var config = EtcdNodes.Store(_etcd, _prefix);
        Assert.Null((await new EtcdCanaryStore(config).ReadPlanAsync()).Plan);
    }

    [Fact]
    public async Task Push_WithOneNodeRunning_SaysACanaryNeedsTwo()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 1, Fast);
        await WaitForRegisteredAsync(1);
        var (code, _, error) = await RunAsync(Push(Write("candidate.yaml", Config("b"))));
        Assert.Equal(1, code);
        Assert.StartsWith($"a canary needs at least 2 gateway nodes on {_etcd.StoreUrl}{_prefix} (one to run the candidate, one to compare with); 1 is running.", error);
        Assert.Equal("A", await nodes.UpstreamAsync(0, "/a/1"));
    }

    private async Task WaitForRegisteredAsync(int count)
    {
        using var config = EtcdNodes.Store(_etcd, _prefix);
        var canaries = new EtcdCanaryStore(config);
        await Eventually.HoldsAsync(async () => (await canaries.ReadNodesAsync()).Count == count, TimeSpan.FromSeconds(10), $"{count} nodes report to etcd");
    }

    private static async Task<int> CountAsync(EtcdNodes nodes, string upstream)
    {
        var count = 0;
        for (var node = 0; node < nodes.Clients.Count; node++)
        {
            if (await nodes.UpstreamAsync(node, "/a/1") == upstream) count++;
        }
        return count;
    }

    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Cli.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
