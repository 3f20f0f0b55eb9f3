using System.Net;
using Meshgate.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.RateLimiting;

/// <summary>Shared limits through a real redis-server that the test starts, stops and restarts.</summary>
public sealed class SharedRateLimitTests : RedisAndUpstreamTestBase
{
    private string Config(string policy, string timeout = "2s") => $$"""
        stores:
          redis: { connection: "{{Redis.Connection}}", timeout: {{timeout}} }
        rateLimits:
          api: {{policy}}
        routes:
          - { id: limited, match: { pathPrefix: /limited }, cluster: backend, rateLimit: api }
        clusters:
          - { id: backend, endpoints: ["{{Upstream.Endpoint}}"] }
        """;

    private static async Task<List<HttpResponseMessage>> SendAsync(TestGateway gateway, int count)
    {
        var responses = new List<HttpResponseMessage>();
        for (var i = 0; i < count; i++) responses.Add(await gateway.Client.GetAsync("/limited"));
        return responses;
    }

    private static int Count(List<HttpResponseMessage> responses, HttpStatusCode status) => responses.Count(r => r.StatusCode == status);

    [Theory]
    [InlineData("fixed-window")]
    [InlineData("sliding-window")]
    [InlineData("token-bucket")]
    public async Task Shared_TwoGateways_AllowExactlyLimitBetweenThem(string algorithm)
    {
        var yaml = Config($"{{ algorithm: {algorithm}, limit: 6, window: 1h, scope: shared, headers: true }}");
        await using var first = await TestGateway.StartAsync(yaml);
        await using var second = await TestGateway.StartAsync(yaml);

        var responses = new List<HttpResponseMessage>();
        for (var i = 0; i < 6; i++)
        {
            responses.AddRange(await SendAsync(first, 1));
            responses.AddRange(await SendAsync(second, 1));
        }

        Assert.Equal(6, Count(responses, HttpStatusCode.OK));
        Assert.Equal(6, Count(responses, HttpStatusCode.TooManyRequests));
        Assert.Equal(["r=5", "r=4", "r=3", "r=2", "r=1", "r=0"],
            responses.Where(r => r.StatusCode == HttpStatusCode.OK).Select(r => r.Headers.GetValues("RateLimit").Single().Split(';')[1]));
        var retryAfter = int.Parse(responses.Last().Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        // A fixed window frees its permits when the window ends; a sliding window can take up to a sixth (1/limit) of a
        // window longer, since the full previous window still weighs on the first part of the next one.
        Assert.InRange(retryAfter, 1, algorithm == "sliding-window" ? 3600 + 3600 / 6 : 3600);
        Assert.Equal(6, Upstream.Requests);
        // Both counted through the direct front end (docs/front-end.md), which takes the route's shared limit itself.
        foreach (var gateway in new[] { first, second }) Assert.Equal(6, gateway.Host.Gateway.Services.GetRequiredService<Meshgate.Proxy.FrontEnd.DirectFrontEnd>().Served);
    }

    [Theory]
    [InlineData("allow", 6, 0, 0)]
    [InlineData("deny", 0, 0, 6)]
    [InlineData("local", 2, 4, 0)] // limit 4 over 2 nodes: 2 on this node while Redis is away
    public async Task RedisStoppedAndRestarted_OnStoreFailure_AppliesThenRecovers(string mode, int ok, int limited, int unavailable)
    {
        var extra = mode == "local" ? ", nodes: 2" : "";
        await using var gateway = await TestGateway.StartAsync(Config($"{{ algorithm: fixed-window, limit: 4, window: 1h, scope: shared, headers: true, onStoreFailure: {mode}{extra} }}", "200ms"));
        Assert.Equal(1, Count(await SendAsync(gateway, 1), HttpStatusCode.OK)); // through Redis

        await Redis.StopAsync();
        var during = await SendAsync(gateway, 6);

        Assert.Equal((ok, limited, unavailable), (Count(during, HttpStatusCode.OK), Count(during, HttpStatusCode.TooManyRequests), Count(during, HttpStatusCode.ServiceUnavailable)));
        // Refused while the store is away: ask again in a second (docs/rate-limiting.md), without RateLimit fields no limiter made.
        Assert.All(during.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable), r =>
        {
            Assert.Equal("1", r.Headers.GetValues("Retry-After").Single());
            Assert.False(r.Headers.Contains("RateLimit"));
        });
        using (var status = System.Text.Json.JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits")))
        {
            var store = status.RootElement.GetProperty("store");
            Assert.True(store.GetProperty("failing").GetBoolean());
            Assert.True(store.GetProperty("fallbackDecisions").GetInt64() >= 6);
        }

        // A fresh Redis (no persistence): the gateway reconnects by itself and counts there from zero.
        await Redis.RestartAsync();
        await Eventually.HoldsAsync(async () =>
        {
            using var probe = await gateway.Client.GetAsync("/limited");
            return probe.StatusCode == HttpStatusCode.OK && probe.Headers.TryGetValues("RateLimit-Policy", out var policy) && policy.Single() == "\"api\";q=4;w=3600";
        }, TimeSpan.FromSeconds(15), "the gateway counts in Redis again after it restarted");
        var after = await SendAsync(gateway, 5);
        Assert.Equal(3, Count(after, HttpStatusCode.OK)); // 4 in the new Redis window, one used by the probe
        Assert.Equal(2, Count(after, HttpStatusCode.TooManyRequests));
        using var recovered = System.Text.Json.JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits"));
        Assert.False(recovered.RootElement.GetProperty("store").GetProperty("failing").GetBoolean());
    }

    [Fact]
    public async Task AdminApi_SharedKey_ReadFromRedisWithoutCounting()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: sliding-window, limit: 5, window: 1h, scope: shared }"));
        Assert.Equal(2, Count(await SendAsync(gateway, 2), HttpStatusCode.OK));

        using var first = System.Text.Json.JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits/api/ip:127.0.0.1"));
        using var second = System.Text.Json.JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits/api/ip:127.0.0.1"));

        Assert.Equal(("redis", 3), (first.RootElement.GetProperty("source").GetString(), first.RootElement.GetProperty("remaining").GetInt32()));
        Assert.Equal(3, second.RootElement.GetProperty("remaining").GetInt32());
        Assert.Equal(3, Count(await SendAsync(gateway, 5), HttpStatusCode.OK));
    }
}
