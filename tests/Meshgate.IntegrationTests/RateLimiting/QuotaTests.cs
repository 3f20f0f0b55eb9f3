using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.RateLimiting;

/// <summary>
/// Quotas per consumer per calendar period through the real gateway and a real redis-server. The gateways run on a
/// <see cref="ShiftedClock"/> set to a day in the future, so a test crosses midnight by moving the clock.
/// </summary>
public sealed class QuotaTests : RedisAndUpstreamTestBase
{
    private const string AliceKey = "alice-quota-key-0123456789abcdef";
    private const string BobKey = "bob-quota-key-0123456789abcdef";
    private static readonly DateTimeOffset LastMinute = new(2031, 12, 31, 23, 59, 0, TimeSpan.Zero);

    private static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private string Config(string policy, string timeout = "2s") => $$"""
        stores:
          redis: { connection: "{{Redis.Connection}}", timeout: {{timeout}} }
        rateLimits:
          daily: {{policy}}
        authentication:
          keys:
            apiKeys:
              header: x-api-key
              consumers:
                alice: { keys: ["{{Hash(AliceKey)}}"] }
                bob: { keys: ["{{Hash(BobKey)}}"] }
        routes:
          - { id: metered, match: { pathPrefix: /metered }, cluster: backend, rateLimit: daily, auth: [keys] }
        clusters:
          - { id: backend, endpoints: ["{{Upstream.Endpoint}}"] }
        """;

    private static async Task<List<HttpResponseMessage>> SendAsync(TestGateway gateway, string apiKey, int count)
    {
        var responses = new List<HttpResponseMessage>();
        for (var i = 0; i < count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/metered");
            request.Headers.Add("x-api-key", apiKey);
            responses.Add(await gateway.Client.SendAsync(request));
        }
        return responses;
    }

    private static int Count(List<HttpResponseMessage> responses, HttpStatusCode status) => responses.Count(r => r.StatusCode == status);

    private static ShiftedClock ClockAt(DateTimeOffset now)
    {
        var clock = new ShiftedClock();
        clock.Set(now);
        return clock;
    }

    [Fact]
    public async Task SharedDaily_TwoGateways_ShareOneQuotaPerConsumer_429SaysWhenItResets()
    {
        var yaml = Config("{ algorithm: quota, limit: 5, period: day, key: consumer, scope: shared, headers: true }");
        var clock = ClockAt(LastMinute);
        await using var first = await TestGateway.StartAsync(yaml, time: clock);
        await using var second = await TestGateway.StartAsync(yaml, time: clock);
        clock.Set(LastMinute); // again, now that both are up: a minute to midnight

        var alice = new List<HttpResponseMessage>();
        for (var i = 0; i < 4; i++)
        {
            alice.AddRange(await SendAsync(first, AliceKey, 1));
            alice.AddRange(await SendAsync(second, AliceKey, 1));
        }
        var bob = await SendAsync(second, BobKey, 2);

        Assert.Equal((5, 3), (Count(alice, HttpStatusCode.OK), Count(alice, HttpStatusCode.TooManyRequests)));
        Assert.Equal(["r=4", "r=3", "r=2", "r=1", "r=0"], alice.Where(r => r.IsSuccessStatusCode).Select(r => r.Headers.GetValues("RateLimit").Single().Split(';')[1]));
        Assert.Equal(2, Count(bob, HttpStatusCode.OK)); // a quota per consumer
        var refused = alice.Last();
        var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 30, 60); // to midnight UTC
        Assert.Equal("\"daily\";q=5;w=86400", refused.Headers.GetValues("RateLimit-Policy").Single());
        Assert.Equal($"\"daily\";r=0;t={retryAfter}", refused.Headers.GetValues("RateLimit").Single());
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType!.MediaType);
        using var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Equal("https://meshgate.dev/errors/quota-exceeded", problem.RootElement.GetProperty("type").GetString());
        Assert.Contains("Quota 'daily' allows 5 requests per day (UTC) and is used up; it resets at 2032-01-01T00:00:00Z.", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(7, Upstream.Requests);

        // Past midnight (both nodes' clocks): a new day, a new quota.
        clock.Set(LastMinute.AddMinutes(1).AddSeconds(1));
        var nextDay = await SendAsync(first, AliceKey, 3);
        nextDay.AddRange(await SendAsync(second, AliceKey, 3));
        Assert.Equal((5, 1), (Count(nextDay, HttpStatusCode.OK), Count(nextDay, HttpStatusCode.TooManyRequests)));
    }

    [Fact]
    public async Task AdminApi_AfterKnownRequests_ReportsLimitUsedRemainingPeriodAndResetWithoutTheApiKey()
    {
        var clock = ClockAt(new DateTimeOffset(2031, 3, 14, 15, 9, 26, TimeSpan.Zero));
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: quota, limit: 1000, period: month, key: consumer, scope: shared, headers: true }"), time: clock);
        Assert.Equal(37, Count(await SendAsync(gateway, AliceKey, 37), HttpStatusCode.OK));

        var text = await gateway.Admin.GetStringAsync("/admin/ratelimits/daily/consumer:alice");
        using var view = JsonDocument.Parse(text);
        var root = view.RootElement;

        Assert.Equal(("redis", "month", 1000, 37L, 963L), (root.GetProperty("source").GetString(), root.GetProperty("period").GetString(), root.GetProperty("limit").GetInt32(), root.GetProperty("used").GetInt64(), root.GetProperty("remaining").GetInt64()));
        Assert.Equal(new DateTimeOffset(2031, 3, 1, 0, 0, 0, TimeSpan.Zero), root.GetProperty("periodStart").GetDateTimeOffset());
        Assert.Equal(new DateTimeOffset(2031, 4, 1, 0, 0, 0, TimeSpan.Zero), root.GetProperty("resetsAt").GetDateTimeOffset());
        Assert.DoesNotContain(AliceKey, text, StringComparison.Ordinal);
        Assert.DoesNotContain(Hash(AliceKey), text, StringComparison.Ordinal);
        // Reading it counted nothing; bob has used nothing.
        using var again = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits/daily/consumer:alice"));
        Assert.Equal(37L, again.RootElement.GetProperty("used").GetInt64());
        using var bob = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits/daily/consumer:bob"));
        Assert.Equal((0L, 1000L), (bob.RootElement.GetProperty("used").GetInt64(), bob.RootElement.GetProperty("remaining").GetInt64()));
        // A monthly quota's window is this month's length: March has 31 days.
        using var response = (await SendAsync(gateway, AliceKey, 1))[0];
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("\"daily\";q=1000;w=2678400", response.Headers.GetValues("RateLimit-Policy").Single());
        using var policies = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits"));
        var listed = policies.RootElement.GetProperty("policies")[0];
        Assert.Equal(("quota", "month"), (listed.GetProperty("algorithm").GetString(), listed.GetProperty("period").GetString()));
    }

    [Fact]
    public async Task LocalDaily_CountsOnTheNodeAndRollsOverAtMidnight()
    {
        var clock = ClockAt(LastMinute);
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: quota, limit: 3, period: day, key: consumer, headers: true }"), time: clock);
        clock.Set(LastMinute);

        var today = await SendAsync(gateway, AliceKey, 5);
        clock.Set(LastMinute.AddMinutes(2));
        var tomorrow = await SendAsync(gateway, AliceKey, 5);

        Assert.Equal((3, 2), (Count(today, HttpStatusCode.OK), Count(today, HttpStatusCode.TooManyRequests)));
        Assert.Equal((3, 2), (Count(tomorrow, HttpStatusCode.OK), Count(tomorrow, HttpStatusCode.TooManyRequests)));
        using var view = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits/daily/consumer:alice"));
        Assert.Equal(("local", 3L, 0L), (view.RootElement.GetProperty("source").GetString(), view.RootElement.GetProperty("used").GetInt64(), view.RootElement.GetProperty("remaining").GetInt64()));
        Assert.Equal(new DateTimeOffset(2032, 1, 2, 0, 0, 0, TimeSpan.Zero), view.RootElement.GetProperty("resetsAt").GetDateTimeOffset());
    }

    [Theory]
    [InlineData("allow", 6, 0, 0)]
    [InlineData("deny", 0, 0, 6)]
    [InlineData("local", 2, 4, 0)] // limit 4 over 2 nodes: 2 on this node while Redis is away
    public async Task RedisStopped_OnStoreFailure_AppliesToTheQuotaThenCountsInRedisAgain(string mode, int ok, int limited, int unavailable)
    {
        var extra = mode == "local" ? ", nodes: 2" : "";
        await using var gateway = await TestGateway.StartAsync(Config($"{{ algorithm: quota, limit: 4, period: day, key: consumer, scope: shared, onStoreFailure: {mode}{extra} }}", "200ms"), time: ClockAt(LastMinute.AddDays(-100)));
        // The gateway connects to Redis in the background, and under deny a request before that is refused (it was once,
        // on a loaded machine): the admin API's read of the key answers from Redis once it is there, and counts nothing.
        await Eventually.HoldsAsync(async () => (await gateway.Admin.GetStringAsync("/admin/ratelimits/daily/consumer:alice")).Contains("\"source\":\"redis\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(15), "the gateway reaches Redis");
        Assert.Equal(1, Count(await SendAsync(gateway, AliceKey, 1), HttpStatusCode.OK));

        await Redis.StopAsync();
        var during = await SendAsync(gateway, AliceKey, 6);

        Assert.Equal((ok, limited, unavailable), (Count(during, HttpStatusCode.OK), Count(during, HttpStatusCode.TooManyRequests), Count(during, HttpStatusCode.ServiceUnavailable)));
        using (var view = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits/daily/consumer:alice")))
        {
            Assert.Equal(mode == "local" ? "local-fallback" : "redis-unavailable", view.RootElement.GetProperty("source").GetString());
        }

        await Redis.RestartAsync();
        await Eventually.HoldsAsync(async () => (await SendAsync(gateway, AliceKey, 1))[0].StatusCode == HttpStatusCode.OK
            && (await gateway.Admin.GetStringAsync("/admin/ratelimits/daily/consumer:alice")).Contains("\"source\":\"redis\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(15), "the quota counts in Redis again after it restarted");
    }
}
