using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.EtcdConfig;

/// <summary>
/// Three gateway nodes on one real etcd (each test its own prefix): admin writes reach every node, conflicts and
/// invalid configs are refused, an invalid state written straight into etcd is rejected everywhere, and an etcd
/// outage under load loses no request.
/// </summary>
public sealed class EtcdConfigClusterTests : IAsyncLifetime
{
    private EtcdServer _etcd = null!;
    private TestUpstream _a = null!;
    private TestUpstream _b = null!;
    private readonly string _prefix = $"/test-{Guid.NewGuid():N}/config/";

    private string Config => EtcdNodes.Config($$"""
        routes:
          - id: a
            match: { pathPrefix: /a }
            cluster: a
        clusters:
          - id: a
            endpoints: ["{{_a.Endpoint}}"]
          - id: b
            endpoints: ["{{_b.Endpoint}}"]
        """);

    public async Task InitializeAsync()
    {
        _etcd = await EtcdServer.StartAsync();
        _a = await TestUpstream.NamedAsync("A");
        _b = await TestUpstream.NamedAsync("B");
        await EtcdNodes.PushAsync(_etcd, _prefix, Config);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _etcd.DisposeAsync();
    }

    [Fact]
    public async Task AdminPut_OnOneNode_ReachesAllThreeWithinOneSecond()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 3);
        for (var node = 0; node < 3; node++) Assert.Equal("status 404", await nodes.UpstreamAsync(node, "/b/1"));

        var clock = Stopwatch.StartNew();
        using var put = await nodes.PutAsync(0, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", await nodes.RevisionAsync(0));
        Assert.True(put.StatusCode == HttpStatusCode.Created, await put.Content.ReadAsStringAsync());
        var revision = JsonDocument.Parse(await put.Content.ReadAsStringAsync()).RootElement.GetProperty("revision").GetString();

        for (var node = 0; node < 3; node++)
        {
            var at = node;
            await Eventually.HoldsAsync(async () => await nodes.UpstreamAsync(at, "/b/1") == "B", TimeSpan.FromSeconds(1) - clock.Elapsed, $"node {at} routes /b to B within 1 s of the write");
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"all three converged in {clock.Elapsed}");
        // Every node runs the revision the writer got back, so any node takes it in If-Match next.
        for (var node = 0; node < 3; node++) Assert.Equal(revision, await nodes.RevisionAsync(node));
    }

    [Fact]
    public async Task TwoWritersWithTheSameRevision_OnDifferentNodes_TheSecondGets409()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 2);
        var revision = await nodes.RevisionAsync(0);

        using var first = await nodes.PutAsync(0, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", revision);
        using var second = await nodes.PutAsync(1, "/admin/routes/c", """{"match":{"pathPrefix":"/c"},"cluster":"a"}""", revision);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        await Eventually.HoldsAsync(async () => await nodes.UpstreamAsync(1, "/b/1") == "B", TimeSpan.FromSeconds(5), "node 1 follows node 0's write");
        Assert.Equal("status 404", await nodes.UpstreamAsync(1, "/c/1"));
        using var store = EtcdNodes.Store(_etcd, _prefix);
        Assert.DoesNotContain("/c", (await store.ReadAsync()).Yaml);
    }

    [Fact]
    public async Task InvalidPut_IsRefusedByTheAdminApi_AndNeverReachesEtcd()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 1);
        using var store = EtcdNodes.Store(_etcd, _prefix);
        using var etcd = new dotnet_etcd.EtcdClient("http://" + _etcd.Endpoint);
        var before = await store.ReadStateAsync();
        var keysBefore = (await etcd.GetRangeAsync(_prefix)).Kvs.Select(kv => (kv.Key.ToStringUtf8(), kv.ModRevision)).ToList();

        using var put = await nodes.PutAsync(0, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"nope"}""", await nodes.RevisionAsync(0));

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains("unknown cluster 'nope'", await put.Content.ReadAsStringAsync());
        var after = await store.ReadStateAsync();
        Assert.Equal(before.Assembled.Config.Revision, after.Assembled.Config.Revision);
        // No key under the prefix was written (etcd's own revision may move: nodes report for canaries beside the prefix).
        Assert.Equal(keysBefore, (await etcd.GetRangeAsync(_prefix)).Kvs.Select(kv => (kv.Key.ToStringUtf8(), kv.ModRevision)).ToList());
    }

    [Fact]
    public async Task AdminPut_WhileEtcdIsDown_Answers503NamingEtcd_WithRetryAfter_AndSucceedsOnceEtcdIsBack()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 1);
        var revision = await nodes.RevisionAsync(0);
        await _etcd.StopAsync();

        using var put = await nodes.PutAsync(0, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", revision);

        var body = await put.Content.ReadAsStringAsync();
        Assert.True(put.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)put.StatusCode}: {body}");
        Assert.Equal("application/problem+json", put.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(5), put.Headers.RetryAfter?.Delta);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal(503, problem.GetProperty("status").GetInt32());
        Assert.Equal("Config store unavailable", problem.GetProperty("title").GetString());
        Assert.Equal($"etcd at {_etcd.StoreUrl}", problem.GetProperty("store").GetString());
        Assert.StartsWith("Unavailable", problem.GetProperty("reason").GetString());
        Assert.Contains($"etcd at {_etcd.StoreUrl} is unavailable", problem.GetProperty("detail").GetString());
        Assert.Equal(revision, problem.GetProperty("revision").GetString());
        Assert.Equal("status 404", await nodes.UpstreamAsync(0, "/b/1"));

        await _etcd.StartAgainAsync();
        await Eventually.HoldsAsync(async () => (await nodes.ReadyAsync(0)).GetProperty("config").GetProperty("synced").GetBoolean(), TimeSpan.FromSeconds(20), "the node resyncs");
        // The client does what Retry-After asks: writes again until etcd takes it. "synced" can still be the node's view
        // from before etcd went down (its watch notices the restart a moment later), so the first retry may meet a
        // store not reachable yet; what it may answer meanwhile is the same 503, nothing else.
        await Eventually.HoldsAsync(async () =>
        {
            using var again = await nodes.PutAsync(0, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", revision);
            if (again.StatusCode == HttpStatusCode.Created) return true;
            Assert.True(again.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)again.StatusCode}: {await again.Content.ReadAsStringAsync()}");
            await Task.Delay(200);
            return false;
        }, TimeSpan.FromSeconds(20), "the retried write is taken once etcd is back");
        await Eventually.HoldsAsync(async () => await nodes.UpstreamAsync(0, "/b/1") == "B", TimeSpan.FromSeconds(5), "the retried write applies");
    }

    [Fact]
    public async Task InvalidStateWrittenStraightIntoEtcd_IsRejectedByEveryNode_WhichKeepServing()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 3);
        var good = await nodes.RevisionAsync(0);
        using var etcd = new dotnet_etcd.EtcdClient("http://" + _etcd.Endpoint);

        await etcd.PutAsync(_prefix + "routes/b", "match: { pathPrefix: /b }\ncluster: nope\n");

        for (var node = 0; node < 3; node++)
        {
            var at = node;
            await Eventually.HoldsAsync(async () => (await nodes.StatusAsync(at)).GetProperty("lastAttemptSucceeded").GetBoolean() == false, TimeSpan.FromSeconds(5), $"node {at} rejects the state");
            var status = await nodes.StatusAsync(at);
            Assert.Contains("unknown cluster 'nope'", status.GetProperty("lastErrors")[0].GetString());
            Assert.Equal(good, status.GetProperty("revision").GetString());
            Assert.Equal("A", await nodes.UpstreamAsync(at, "/a/1"));
            Assert.Equal("status 404", await nodes.UpstreamAsync(at, "/b/1"));
        }

        // A key that is not even YAML is rejected the same way, naming the key.
        await etcd.PutAsync(_prefix + "clusters/c", "endpoints: [http://x");
        await Eventually.HoldsAsync(async () => (await nodes.StatusAsync(2)).GetProperty("lastErrors")[0].GetString()!.Contains("clusters/c: not valid YAML"),
            TimeSpan.FromSeconds(5), "node 2 names the broken key");
        Assert.Equal("A", await nodes.UpstreamAsync(2, "/a/1"));

        // The admin API will not write over a state it did not apply.
        using var refused = await nodes.PutAsync(0, "/admin/routes/d", """{"match":{"pathPrefix":"/d"},"cluster":"a"}""", good);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);

        // Fixed in etcd, every node applies it.
        await etcd.DeleteAsync(_prefix + "clusters/c");
        await etcd.PutAsync(_prefix + "routes/b", "match: { pathPrefix: /b }\ncluster: b\n");
        for (var node = 0; node < 3; node++)
        {
            var at = node;
            await Eventually.HoldsAsync(async () => await nodes.UpstreamAsync(at, "/b/1") == "B", TimeSpan.FromSeconds(5), $"node {at} applies the fixed state");
        }
    }

    [Fact]
    public async Task EtcdStoppedAndRestarted_UnderLoad_NoRequestFails_NodesSayNotSynced_ThenResync()
    {
        await using var nodes = await EtcdNodes.StartAsync(_etcd, _prefix, 3);
        var loads = nodes.Clients.Select(c => UpstreamLoad.Start(c, "/a/1", loops: 2, requestsPerLoop: 100_000, bound: TimeSpan.FromSeconds(60))).ToList();
        try
        {
            await _etcd.StopAsync();
            for (var node = 0; node < 3; node++)
            {
                var at = node;
                await Eventually.HoldsAsync(async () => (await nodes.ReadyAsync(at)).GetProperty("config").GetProperty("synced").GetBoolean() == false,
                    TimeSpan.FromSeconds(15), $"node {at} says it is not synced");
            }
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            var ready = await nodes.ReadyAsync(0);
            Assert.Equal("ready", ready.GetProperty("status").GetString());
            Assert.Contains("unavailable", ready.GetProperty("config").GetProperty("reason").GetString());
            Assert.True(ready.GetProperty("config").GetProperty("staleSeconds").GetDouble() >= 1, ready.ToString());
            var scrape = await PrometheusScrape.GetAsync(nodes.Admins[0]);
            Assert.True(scrape.Single("meshgate_config_stale_seconds") >= 1, scrape.Text);

            await _etcd.StartAgainAsync();
            for (var node = 0; node < 3; node++)
            {
                var at = node;
                await Eventually.HoldsAsync(async () => (await nodes.ReadyAsync(at)).GetProperty("config").GetProperty("synced").GetBoolean(),
                    TimeSpan.FromSeconds(20), $"node {at} resyncs");
            }
            Assert.Equal(0, (await PrometheusScrape.GetAsync(nodes.Admins[0])).Single("meshgate_config_stale_seconds"));

            using var put = await nodes.PutAsync(1, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", await nodes.RevisionAsync(1));
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            for (var node = 0; node < 3; node++)
            {
                var at = node;
                await Eventually.HoldsAsync(async () => await nodes.UpstreamAsync(at, "/b/1") == "B", TimeSpan.FromSeconds(2), $"node {at} gets the write made after the restart");
            }
        }
        finally
        {
            foreach (var load in loads) await load.StopAsync();
        }
        Assert.All(loads, load => Assert.True(load.SeenFrom("A") > 100, $"the load ran ({load.SeenFrom("A")} answers)"));
        Assert.All(loads, load => Assert.Equal(0, load.Failures));
    }
}
