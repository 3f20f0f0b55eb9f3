using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Meshgate.IntegrationTests.AccessLog;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.RateLimiting;

/// <summary>
/// Local limits through the real gateway. Windows are an hour long so no count can roll over during a test;
/// window arithmetic itself is covered with a manual clock in the limiter's unit tests.
/// </summary>
public sealed class LocalRateLimitTests : IAsyncLifetime
{
    private const string AliceKey = "alice-key-0123456789abcdef";
    private const string BobKey = "bob-key-0123456789abcdef";
    private RecordingUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await RecordingUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private string Config(string policy, string extra = "") => $$"""
        {{extra}}
        rateLimits:
          api: {{policy}}
        authentication:
          keys:
            apiKeys:
              header: x-api-key
              consumers:
                alice: { keys: ["{{Hash(AliceKey)}}"], metadata: { tenant: acme } }
                bob: { keys: ["{{Hash(BobKey)}}"], metadata: { tenant: acme } }
        routes:
          - { id: limited, match: { pathPrefix: /limited }, cluster: backend, rateLimit: api }
          - { id: keyed, match: { pathPrefix: /keyed }, cluster: backend, rateLimit: api, auth: [keys], anonymous: true }
          - { id: free, match: { pathPrefix: /free }, cluster: backend }
        clusters:
          - { id: backend, endpoints: ["{{_upstream.Endpoint}}"] }
        """;

    private static async Task<List<HttpStatusCode>> SendAsync(TestGateway gateway, string path, int count, Action<HttpRequestMessage>? setup = null)
    {
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            setup?.Invoke(request);
            using var response = await gateway.Client.SendAsync(request);
            statuses.Add(response.StatusCode);
        }
        return statuses;
    }

    private static int Ok(List<HttpStatusCode> statuses) => statuses.Count(s => s == HttpStatusCode.OK);

    [Fact]
    public async Task FixedWindow_OverLimit_429ProblemWithRetryAfterAndRateLimitHeaders()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: fixed-window, limit: 5, window: 1h }"));

        var statuses = await SendAsync(gateway, "/limited", 5);
        using var rejected = await gateway.Client.GetAsync("/limited");

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(HttpStatusCode.TooManyRequests, rejected.StatusCode);
        Assert.Equal("application/problem+json", rejected.Content.Headers.ContentType!.MediaType);
        using var problem = JsonDocument.Parse(await rejected.Content.ReadAsStringAsync());
        Assert.Equal("https://meshgate.dev/errors/rate-limited", problem.RootElement.GetProperty("type").GetString());
        Assert.Contains("Rate limit 'api' allows 5 requests per hour", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var retryAfter = int.Parse(rejected.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 3500, 3600);
        Assert.Equal("\"api\";q=5;w=3600", rejected.Headers.GetValues("RateLimit-Policy").Single());
        Assert.Equal($"\"api\";r=0;t={retryAfter}", rejected.Headers.GetValues("RateLimit").Single());
        Assert.Equal(5, _upstream.Requests); // the refused request never reached the upstream
    }

    [Fact]
    public async Task Headers_False_AllowedResponsesCarryNone_True_CountDown()
    {
        await using var quiet = await TestGateway.StartAsync(Config("{ algorithm: fixed-window, limit: 3, window: 1h }"));
        using var plain = await quiet.Client.GetAsync("/limited");
        Assert.False(plain.Headers.Contains("RateLimit"));
        Assert.False(plain.Headers.Contains("RateLimit-Policy"));

        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: token-bucket, limit: 3, window: 1h, burst: 1, headers: true }"));
        var remaining = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await gateway.Client.GetAsync("/limited");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("\"api\";q=3;w=3600", response.Headers.GetValues("RateLimit-Policy").Single());
            remaining.Add(response.Headers.GetValues("RateLimit").Single().Split(';')[1]);
        }
        Assert.Equal(["r=3", "r=2", "r=1", "r=0"], remaining); // limit 3 + burst 1
        using var rejected = await gateway.Client.GetAsync("/limited");
        Assert.Equal(HttpStatusCode.TooManyRequests, rejected.StatusCode);
    }

    [Fact]
    public async Task RouteWithoutLimit_NeverLimitedAndNoHeaders()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: fixed-window, limit: 1, window: 1h, headers: true }"));

        var statuses = await SendAsync(gateway, "/free", 20);
        using var last = await gateway.Client.GetAsync("/free");

        Assert.Equal(20, Ok(statuses));
        Assert.False(last.Headers.Contains("RateLimit"));
    }

    [Fact]
    public async Task ClientIp_SpoofedForwardedForFromUntrustedClient_SameKey()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: fixed-window, limit: 3, window: 1h, key: client-ip }"));
        var n = 0;

        var statuses = await SendAsync(gateway, "/limited", 6, r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", $"203.0.113.{++n}"));

        Assert.Equal(3, Ok(statuses));
    }

    [Fact]
    public async Task ClientIp_ForwardedForFromTrustedProxy_EachClientItsOwnLimit()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: fixed-window, limit: 3, window: 1h, key: client-ip }", "trustedProxies: [127.0.0.1]"));

        var first = await SendAsync(gateway, "/limited", 5, r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.1"));
        var second = await SendAsync(gateway, "/limited", 5, r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.2"));

        Assert.Equal((3, 3), (Ok(first), Ok(second)));
    }

    [Fact]
    public async Task HeaderKey_EachValueIsolated()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: sliding-window, limit: 2, window: 1h, key: 'header:x-tenant' }"));

        var a = await SendAsync(gateway, "/limited", 4, r => r.Headers.Add("x-tenant", "a"));
        var b = await SendAsync(gateway, "/limited", 4, r => r.Headers.Add("x-tenant", "b"));
        var none = await SendAsync(gateway, "/limited", 4);

        Assert.Equal((2, 2, 2), (Ok(a), Ok(b), Ok(none)));
    }

    [Fact]
    public async Task ConsumerKey_EachConsumerItsOwnLimit_AnonymousByClientIp()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: fixed-window, limit: 2, window: 1h, key: consumer }"));

        var alice = await SendAsync(gateway, "/keyed", 4, r => r.Headers.Add("x-api-key", AliceKey));
        var bob = await SendAsync(gateway, "/keyed", 4, r => r.Headers.Add("x-api-key", BobKey));
        var anonymous = await SendAsync(gateway, "/keyed", 4);

        Assert.Equal((2, 2, 2), (Ok(alice), Ok(bob), Ok(anonymous)));
    }

    [Fact]
    public async Task CombinedKey_ClaimAndRoute_ConsumersOfOneTenantShareAPerRouteLimit()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: fixed-window, limit: 3, window: 1h, key: ['claim:tenant', route] }"));

        var alice = await SendAsync(gateway, "/keyed", 2, r => r.Headers.Add("x-api-key", AliceKey));
        var bob = await SendAsync(gateway, "/keyed", 2, r => r.Headers.Add("x-api-key", BobKey));
        var otherRoute = await SendAsync(gateway, "/limited", 2);

        Assert.Equal((2, 1, 2), (Ok(alice), Ok(bob), Ok(otherRoute)));
    }

    [Fact]
    public async Task Concurrency_LimitInFlight_ReleasedOnCompletion()
    {
        await using var slow = await HeldUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            rateLimits:
              in-flight: { algorithm: concurrency, limit: 2 }
            routes:
              - { id: slow, match: { pathPrefix: /slow }, cluster: slow, rateLimit: in-flight }
            clusters:
              - { id: slow, endpoints: ["{{slow.Endpoint}}"] }
            """);

        var held = new[] { gateway.Client.GetAsync("/slow"), gateway.Client.GetAsync("/slow") };
        await slow.WaitForArrivalsAsync(2, "both held requests reached the upstream");
        using var refused = await gateway.Client.GetAsync("/slow");
        slow.Release();
        foreach (var response in await Task.WhenAll(held)) using (response) Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("\"in-flight\";r=0", refused.Headers.GetValues("RateLimit").Single());
        await Eventually.AnsweredOkAsync(gateway.Client, "/slow", "the permits came back once the held answers had gone");
    }

    [Fact]
    public async Task Reload_UnchangedPolicy_KeepsCounts()
    {
        var yaml = Config("{ algorithm: fixed-window, limit: 3, window: 1h }");
        await using var gateway = await TestGateway.StartAsync(yaml);
        Assert.Equal(3, Ok(await SendAsync(gateway, "/limited", 3)));

        var generation = await gateway.GenerationAsync();
        await gateway.RewriteConfigAsync(yaml.Replace("pathPrefix: /free", "pathPrefix: /gratis", StringComparison.Ordinal));
        await Eventually.HoldsAsync(async () => await gateway.GenerationAsync() > generation, TimeSpan.FromSeconds(10), "the changed config was applied");

        Assert.Equal(0, Ok(await SendAsync(gateway, "/limited", 2)));
    }

    [Fact]
    public async Task AccessLog_RecordsDecision_AllowedLimitedOrNone()
    {
        var directory = TempDirectory.Create();
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: fixed-window, limit: 1, window: 1h }", "accessLog: { output: access.log, fields: [path, status, rateLimit] }"), directory);

        await SendAsync(gateway, "/limited", 2);
        await SendAsync(gateway, "/free", 1);

        var lines = await AccessLogFiles.WaitForLinesAsync(Path.Combine(directory, "access.log"), 3);
        var decisions = lines.Select(l => (l.GetProperty("path").GetString(), l.GetProperty("status").GetInt32(), l.GetProperty("rateLimit").GetString())).ToList();
        Assert.Equal([("/limited", 200, "allowed"), ("/limited", 429, "limited"), ("/free", 200, null)], decisions);
    }

    [Fact]
    public async Task AdminApi_KeyStanding_ShowsRemainingWithoutCounting()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ algorithm: fixed-window, limit: 5, window: 1h }"));
        await SendAsync(gateway, "/limited", 2);

        using var key = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits/api/ip:127.0.0.1"));
        using var again = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits/API/ip:127.0.0.1"));
        using var fresh = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits/api/ip:203.0.113.9"));
        using var all = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/ratelimits"));
        using var unknown = await gateway.Admin.GetAsync("/admin/ratelimits/nope/ip:127.0.0.1");

        Assert.Equal(("local", 3), (key.RootElement.GetProperty("source").GetString(), key.RootElement.GetProperty("remaining").GetInt32()));
        Assert.Equal(3, again.RootElement.GetProperty("remaining").GetInt32()); // looking does not count
        Assert.Equal(5, fresh.RootElement.GetProperty("remaining").GetInt32());
        var policy = Assert.Single(all.RootElement.GetProperty("policies").EnumerateArray());
        Assert.Equal(("api", "fixed-window", "local", 1), (policy.GetProperty("name").GetString(), policy.GetProperty("algorithm").GetString(), policy.GetProperty("scope").GetString(), policy.GetProperty("keysTracked").GetInt32()));
        Assert.Equal(JsonValueKind.Null, all.RootElement.GetProperty("store").ValueKind);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(3, Ok(await SendAsync(gateway, "/limited", 5)));
    }
}
