using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.RateLimiting;

/// <summary>
/// Leases of permits from Redis: far from its limit a shared key costs far fewer script calls than requests (counted
/// by the test's own redis-server), and near its limit the nodes together still allow the limit, within 2%.
/// </summary>
public sealed class SharedLeaseTests : RedisAndUpstreamTestBase
{
    private string Config(string policy) => $$"""
        stores:
          redis: { connection: "{{Redis.Connection}}", timeout: 2s }
        rateLimits:
          api: {{policy}}
        routes:
          - { id: limited, match: { pathPrefix: /limited }, cluster: backend, rateLimit: api }
        clusters:
          - { id: backend, endpoints: ["{{Upstream.Endpoint}}"] }
        """;

    /// <summary><paramref name="perSender"/> requests from each of <paramref name="senders"/> concurrent senders per gateway.</summary>
    private static async Task<List<HttpStatusCode>> SendAsync(IEnumerable<TestGateway> gateways, int senders, int perSender)
    {
        var statuses = await Task.WhenAll(gateways.SelectMany(gateway => Enumerable.Range(0, senders).Select(async _ =>
        {
            var mine = new List<HttpStatusCode>();
            for (var i = 0; i < perSender; i++)
            {
                using var response = await gateway.Client.GetAsync("/limited");
                mine.Add(response.StatusCode);
            }
            return mine;
        })));
        return statuses.SelectMany(s => s).ToList();
    }

    [Theory]
    [InlineData("token-bucket")]
    [InlineData("fixed-window")]
    [InlineData("sliding-window")]
    public async Task HighLimit_FarFromIt_FarFewerScriptCallsThanRequests(string algorithm)
    {
        await using var gateway = await TestGateway.StartAsync(Config($"{{ algorithm: {algorithm}, limit: 1000000, window: 1h, key: route, scope: shared, headers: true }}"));
        var before = await Redis.ScriptCallsAsync();

        var statuses = await SendAsync([gateway], senders: 8, perSender: 250);
        var calls = await Redis.ScriptCallsAsync() - before;

        Assert.Equal(2000, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.True(calls <= 40, $"{calls} script calls for 2000 requests (a lease holds up to 1000 permits; concurrent requests share a call)");
        Assert.Equal(2000, Upstream.Requests);
        // The headers still say about what is left, counting what this node holds.
        using var last = await gateway.Client.GetAsync("/limited");
        var remaining = long.Parse(last.Headers.GetValues("RateLimit").Single().Split(';')[1][2..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(remaining, 1000000 - 2001 - 1000, 1000000); // a token bucket refills meanwhile
    }

    [Fact]
    public async Task TwoGateways_NearExhaustion_AllowTheLimitWithinTwoPercentWithFewerCallsThanRequests()
    {
        const int Limit = 3000;
        // An hour-long token bucket: the refill during the test is a few permits at most.
        var yaml = Config($"{{ algorithm: token-bucket, limit: {Limit}, window: 1h, key: route, scope: shared }}");
        await using var first = await TestGateway.StartAsync(yaml);
        await using var second = await TestGateway.StartAsync(yaml);
        var before = await Redis.ScriptCallsAsync();

        // 4000 requests for 3000 permits, 8 concurrent senders on each node, so both hold leases as the key runs out.
        var statuses = await SendAsync([first, second], senders: 8, perSender: 250);
        var calls = await Redis.ScriptCallsAsync() - before;
        var allowed = statuses.Count(s => s == HttpStatusCode.OK);

        Assert.True(Math.Abs(allowed - Limit) <= Limit * 0.02, $"allowed {allowed} of a shared limit of {Limit}");
        Assert.Equal(statuses.Count, allowed + statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.Equal(allowed, Upstream.Requests);
        Assert.True(calls < statuses.Count * 3 / 4, $"{calls} script calls for {statuses.Count} requests");
    }
}
