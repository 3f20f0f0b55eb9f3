using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Meshgate.TestKit;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Meshgate.IntegrationTests.Caching;

/// <summary>
/// The Redis store through a real redis-server: two gateway nodes share entries and purges, a dead Redis
/// only costs the cache, and Redis itself expires what it holds. Requests carry one Host, as they would
/// behind a balancer, so both nodes build the same keys.
/// </summary>
public sealed class RedisCacheTests : IAsyncLifetime
{
    private const string Host = "api.example.com";
    private const string Token = "a-long-admin-token-123";
    private const string Origin = "http://" + Host;

    private CacheUpstream _upstream = null!;
    private RedisServer _redis = null!;
    private ConnectionMultiplexer? _inspect;

    public async Task InitializeAsync()
    {
        _upstream = await CacheUpstream.StartAsync();
        _redis = await RedisServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_inspect is not null) await _inspect.DisposeAsync();
        await _redis.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private Task<TestGateway> Node(string policy = "{ store: redis }", string timeout = "2s") => TestGateway.StartAsync($$"""
        admin: { address: 127.0.0.1:0, token: {{Token}} }
        stores:
          redis: { connection: "{{_redis.Connection}}", timeout: {{timeout}} }
        caches:
          shared: {{policy}}
        routes:
          - { id: cached, match: { pathPrefix: /c }, cluster: backend, cache: shared }
        clusters:
          - id: backend
            endpoints: ["{{_upstream.Endpoint}}"]
        """);

    /// <summary>A direct connection for looking at what the gateway left in Redis.</summary>
    private async Task<IDatabase> RedisAsync()
    {
        _inspect ??= await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { _redis.Connection }, AbortOnConnectFail = false, AllowAdmin = true });
        return _inspect.GetDatabase();
    }

    private static RedisKey EntryKey(string path, string method = "GET") => $"meshgate:cache:shared:e:{method} {Origin}{path}";

    /// <summary>The node finishes its write after the client has the body; wait for it before asking another node.</summary>
    private async Task StoredAsync(string path)
    {
        var database = await RedisAsync();
        await Eventually.HoldsAsync(() => database.KeyExistsAsync(EntryKey(path)), TimeSpan.FromSeconds(10), $"{path} is stored in Redis");
    }

    private static async Task<(HttpStatusCode Status, string Body, string? CacheStatus, HttpResponseMessage Response)> GetAsync(TestGateway gateway, string path, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = Host;
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        var response = await gateway.Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, body, response.Headers.TryGetValues("Cache-Status", out var v) ? string.Join(", ", v) : null, response);
    }

    private static async Task<(HttpStatusCode Status, string Body)> PurgeAsync(TestGateway gateway, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/admin/cache/purge") { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var response = await gateway.Admin.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static async Task<JsonElement> CacheViewAsync(TestGateway gateway)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/cache");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var response = await gateway.Admin.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    [Fact]
    public async Task StoredThroughNodeA_IsAHitOnNodeB_WithAgeAndATtlInRedis()
    {
        _upstream.Answer(("Cache-Control", "max-age=60"), ("Content-Type", "text/plain"), ("ETag", "\"v1\""), ("X-Multi", "one"), ("X-Multi", "two"));
        await using var a = await Node();
        await using var b = await Node();

        var first = await GetAsync(a, "/c/a");
        await StoredAsync("/c/a");
        var fromB = await GetAsync(b, "/c/a");

        Assert.Equal(("body 1", "Meshgate; fwd=uri-miss; fwd-status=200; stored"), (first.Body, first.CacheStatus));
        Assert.Equal((HttpStatusCode.OK, "body 1", "Meshgate; hit"), (fromB.Status, fromB.Body, fromB.CacheStatus));
        Assert.Equal("text/plain", fromB.Response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("\"v1\"", fromB.Response.Headers.ETag!.ToString());
        Assert.Equal(["one", "two"], fromB.Response.Headers.GetValues("X-Multi"));
        Assert.InRange(fromB.Response.Headers.Age!.Value.TotalSeconds, 0, 30);
        Assert.Equal(1, _upstream.Requests);

        // Freshness (60s) + keepStale (default 1m): Redis drops the entry by itself after about two minutes.
        var ttl = await (await RedisAsync()).KeyTimeToLiveAsync(EntryKey("/c/a"));
        Assert.InRange(ttl!.Value.TotalSeconds, 90, 121);
        var hostIndexTtl = await (await RedisAsync()).KeyTimeToLiveAsync($"meshgate:cache:shared:host:{Origin}");
        Assert.InRange(hostIndexTtl!.Value.TotalSeconds, 90, 121);
    }

    [Fact]
    public async Task EntriesAndIndexes_ExpireInRedis()
    {
        _upstream.Answer(("Cache-Control", "max-age=1"), ("Surrogate-Key", "short-lived"));
        await using var a = await Node("{ store: redis, keepStale: 0s }");

        await GetAsync(a, "/c/brief");
        await StoredAsync("/c/brief");
        var database = await RedisAsync();
        var server = _inspect!.GetServer(_redis.Connection);
        Assert.Equal(3, server.Keys(pattern: "meshgate:cache:*").Count()); // the entry, its host index, its surrogate-key index

        await Eventually.HoldsAsync(() => Task.FromResult(!server.Keys(pattern: "meshgate:cache:*").Any()), TimeSpan.FromSeconds(10), "Redis expired the entry and both indexes");
        Assert.False(await database.KeyExistsAsync(EntryKey("/c/brief")));
    }

    [Fact]
    public async Task PurgeOnNodeA_ByUrlPrefixAndSurrogateKey_ReachesNodeB()
    {
        _upstream.Respond = (context, n) =>
        {
            context.Response.Headers.CacheControl = "max-age=600";
            context.Response.Headers["Surrogate-Key"] = context.Request.Path.StartsWithSegments("/c/products") ? "products all" : "all";
            return CacheUpstream.WriteBody(context, $"body {n}");
        };
        await using var a = await Node();
        await using var b = await Node();
        var paths = new[] { "/c/a", "/c/b/1", "/c/b/2", "/c/products/1", "/c/products/2", "/c/kept" };
        foreach (var path in paths)
        {
            await GetAsync(a, path);
            await StoredAsync(path);
        }
        foreach (var path in paths) Assert.Equal("Meshgate; hit", (await GetAsync(b, path)).CacheStatus);
        Assert.Equal(6, _upstream.Requests);

        Assert.Equal((HttpStatusCode.OK, """{"purged":1}"""), await PurgeAsync(a, $$"""{"url":"{{Origin}}/c/a"}"""));
        Assert.Equal((HttpStatusCode.OK, """{"purged":2}"""), await PurgeAsync(a, $$"""{"prefix":"{{Origin}}/c/b/"}"""));
        Assert.Equal((HttpStatusCode.OK, """{"purged":2}"""), await PurgeAsync(a, """{"surrogateKey":"products"}"""));

        var purged = await GetAsync(b, "/c/a");
        Assert.Equal(("body 7", "Meshgate; fwd=uri-miss; fwd-status=200; stored"), (purged.Body, purged.CacheStatus));
        Assert.Equal("body 8", (await GetAsync(b, "/c/b/1")).Body);
        Assert.Equal("body 9", (await GetAsync(b, "/c/products/2")).Body);
        var kept = await GetAsync(b, "/c/kept");
        Assert.Equal(("body 6", "Meshgate; hit"), (kept.Body, kept.CacheStatus));
        Assert.Equal(9, _upstream.Requests);
    }

    [Fact]
    public async Task RedisStoppedMidTest_RequestsAreForwarded_ThenCachingResumesWhenItIsBack()
    {
        _upstream.Answer(("Cache-Control", "max-age=600"));
        await using var gateway = await Node(timeout: "200ms");
        await Eventually.HoldsAsync(async () => (await GetAsync(gateway, "/c/a")).CacheStatus == "Meshgate; hit", TimeSpan.FromSeconds(15), "the entry is stored and served");
        var before = _upstream.Requests;
        Assert.False((await CacheViewAsync(gateway)).GetProperty("redis").GetProperty("failing").GetBoolean());

        var meters = gateway.Host.Gateway.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        long getErrors = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Name == "meshgate.cache.store_errors") l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags) if (tag.Key == "operation" && (string?)tag.Value == "get") Interlocked.Add(ref getErrors, value);
        });
        listener.Start();

        await _redis.StopAsync();
        var during = new List<(HttpStatusCode Status, string Body, string? CacheStatus, HttpResponseMessage Response)>();
        for (var i = 0; i < 5; i++) during.Add(await GetAsync(gateway, "/c/a"));

        Assert.All(during, r => Assert.Equal(HttpStatusCode.OK, r.Status));
        Assert.All(during, r => Assert.Equal("Meshgate; fwd=bypass; fwd-status=200; detail=store-unavailable", r.CacheStatus));
        Assert.Equal(before + 5, _upstream.Requests);
        var view = (await CacheViewAsync(gateway)).GetProperty("redis");
        Assert.True(view.GetProperty("failing").GetBoolean());
        Assert.True(view.GetProperty("errors").GetInt64() >= 5);
        Assert.True(Interlocked.Read(ref getErrors) >= 5, $"{getErrors} store errors counted for 5 failed lookups");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await PurgeAsync(gateway, """{"surrogateKey":"x"}""")).Status);

        await _redis.RestartAsync(); // empty: what was stored is gone
        await Eventually.HoldsAsync(async () => (await GetAsync(gateway, "/c/a")).CacheStatus == "Meshgate; hit", TimeSpan.FromSeconds(15), "caching resumes once Redis is back");
        Assert.False((await CacheViewAsync(gateway)).GetProperty("redis").GetProperty("failing").GetBoolean());
    }

    [Fact]
    public async Task SlowRedis_RequestsWaitAtMostTheTimeoutAndAreForwarded()
    {
        _upstream.Answer(("Cache-Control", "max-age=600"));
        await using var gateway = await Node(timeout: "200ms");
        // A short timeout on a busy test machine: keep asking until the entry went in and comes back.
        await Eventually.HoldsAsync(async () => (await GetAsync(gateway, "/c/a")).CacheStatus == "Meshgate; hit", TimeSpan.FromSeconds(15), "the entry is stored and served");

        // CLIENT PAUSE holds every other client's commands while the connections stay up: Redis is slow, not gone.
        await (await RedisAsync()).ExecuteAsync("CLIENT", "PAUSE", "3000", "ALL");
        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        var slow = await GetAsync(gateway, "/c/a");
        elapsed.Stop();

        Assert.Equal((HttpStatusCode.OK, "Meshgate; fwd=bypass; fwd-status=200; detail=store-unavailable"), (slow.Status, slow.CacheStatus));
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(2), $"the request waited {elapsed.Elapsed} for a Redis that sleeps 3s");
    }

    [Fact]
    public async Task AuthorizationAndVary_NeverLeakAcrossValues()
    {
        _upstream.Answer(("Cache-Control", "max-age=60"), ("Vary", "Accept-Language"));
        await using var a = await Node();
        await using var b = await Node();

        var alice = await GetAsync(a, "/c/me", ("Authorization", "Bearer alice"));
        var bob = await GetAsync(b, "/c/me", ("Authorization", "Bearer bob"));
        var anonymous = await GetAsync(b, "/c/me", ("Accept-Language", "en"));
        await StoredAsync("/c/me");
        var german = await GetAsync(a, "/c/me", ("Accept-Language", "de"));
        await Eventually.HoldsAsync(async () => (await (await RedisAsync()).HashLengthAsync(EntryKey("/c/me"))) == 2, TimeSpan.FromSeconds(10), "both variants are stored");
        var englishOnA = await GetAsync(a, "/c/me", ("Accept-Language", "en"));
        var germanOnB = await GetAsync(b, "/c/me", ("Accept-Language", "de"));
        var bobAgain = await GetAsync(a, "/c/me", ("Authorization", "Bearer bob"), ("Accept-Language", "en"));

        Assert.Equal(("body 1", "body 2", "body 3", "body 4"), (alice.Body, bob.Body, anonymous.Body, german.Body));
        Assert.Equal(("body 3", "Meshgate; hit"), (englishOnA.Body, englishOnA.CacheStatus));
        Assert.Equal(("body 4", "Meshgate; hit"), (germanOnB.Body, germanOnB.CacheStatus));
        Assert.Equal("body 5", bobAgain.Body); // never the anonymous entry, though its Vary value matches
        Assert.Equal(5, _upstream.Requests);
    }
}
