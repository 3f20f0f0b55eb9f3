using System.Net;
using Meshgate.TestKit;
using StackExchange.Redis;

namespace Meshgate.IntegrationTests.ScaleOut;

/// <summary>
/// Three `meshgate gateway --etcd` processes on the config of docs/scale-out.md, one real etcd and one real Redis:
/// the shared rate limit allows exactly its limit in total however the requests are spread, and a response cached
/// through one node is a hit on the others.
/// </summary>
[Trait("Runs", "meshgate")]
public sealed class SharedStateAcrossProcessesTests : IAsyncLifetime
{
    // The nodes see the Host the clients sent (a layer-4 balancer passes it through), so they build the same cache keys.
    private const string Host = "api.example.com";

    private ScaleOutBackends _backends = null!;

    public async Task InitializeAsync()
    {
        _backends = await ScaleOutBackends.StartAsync();
        _backends.Catalog.Answer(("Cache-Control", "max-age=300"));
    }

    public Task DisposeAsync() => _backends.DisposeAsync().AsTask();

    private static async Task<HttpResponseMessage> GetAsync(HttpClient node, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = Host;
        var response = await node.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    [Fact]
    public async Task SharedRateLimit_RequestsSpreadOverThreeProcesses_AllowExactlyTheLimitInTotal()
    {
        await using var nodes = await _backends.StartNodesAsync(3);
        await nodes.Processes[0].CheckAsync(async () =>
        {
            const int limit = ScaleOutExamples.PartnerLimit;
            var statuses = new List<HttpStatusCode>[3] { [], [], [] };
            // One and a half times the limit, in turn over the three nodes: alone, each would allow all of its 50.
            for (var i = 0; i < limit * 3 / 2; i++)
            {
                using var response = await GetAsync(nodes.Clients[i % 3], $"/partner/{i}");
                statuses[i % 3].Add(response.StatusCode);
                if (response.StatusCode == HttpStatusCode.TooManyRequests) Assert.NotNull(response.Headers.RetryAfter);
            }

            var all = statuses.SelectMany(s => s).ToList();
            Assert.Equal(limit, all.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(limit / 2, all.Count(s => s == HttpStatusCode.TooManyRequests));
            Assert.Equal(limit, _backends.Partner.Requests);
            for (var node = 0; node < 3; node++)
            {
                Assert.True(statuses[node].Contains(HttpStatusCode.OK) && statuses[node].Contains(HttpStatusCode.TooManyRequests),
                    $"node {node} both allowed and refused: {string.Join(",", statuses[node].Select(s => (int)s))}");
            }
        });
    }

    [Fact]
    public async Task SharedCache_ResponseCachedThroughNode1_IsAHitOnNodes2And3()
    {
        await using var nodes = await _backends.StartNodesAsync(3);
        await nodes.Processes[0].CheckAsync(async () =>
        {
            // Every node serves one request of its own first: on a loaded machine a process's first Redis call can take
            // longer than the store's timeout, and that request would be forwarded as a bypass, not looked up.
            for (var node = 0; node < 3; node++) (await GetAsync(nodes.Clients[node], $"/catalog/warm-up/{node}")).Dispose();
            var upstreamBefore = _backends.Catalog.Requests;

            using var first = await GetAsync(nodes.Clients[0], "/catalog/items/7");
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            var body = await first.Content.ReadAsStringAsync();

            // Node 1 finishes its write to Redis after its client has the body: wait for the entry before asking the others.
            await using var redis = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { _backends.Redis.Connection }, AbortOnConnectFail = false });
            await Eventually.HoldsAsync(() => redis.GetDatabase().KeyExistsAsync($"meshgate:cache:shared:e:GET http://{Host}/catalog/items/7"),
                TimeSpan.FromSeconds(10), "node 1 stored the response in Redis");

            for (var node = 1; node < 3; node++)
            {
                using var response = await GetAsync(nodes.Clients[node], "/catalog/items/7");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var cacheStatus = string.Join(", ", response.Headers.GetValues("Cache-Status"));
                Assert.True((body, "Meshgate; hit") == (await response.Content.ReadAsStringAsync(), cacheStatus), $"node {node}: {cacheStatus}");
            }
            Assert.Equal(upstreamBefore + 1, _backends.Catalog.Requests);
        });
    }
}
