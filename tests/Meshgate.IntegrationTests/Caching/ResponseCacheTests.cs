using System.Net;
using System.Net.Http.Headers;
using Meshgate.Proxy.Caching;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.Caching;

public sealed class ResponseCacheTests : CacheUpstreamTestBase
{
    private Task<TestGateway> Gateway(string policy = "{ store: memory }", string? endpoint = null) => TestGateway.StartAsync($$"""
        caches:
          short: {{policy}}
        routes:
          - { id: cached, match: { pathPrefix: /c }, cluster: backend, cache: short }
          - { id: plain, match: { pathPrefix: /p }, cluster: backend }
        clusters:
          - id: backend
            endpoints: ["{{endpoint ?? Upstream.Endpoint}}"]
        """);

    private static async Task<(HttpStatusCode Status, string Body, string? CacheStatus, HttpResponseMessage Response)> GetAsync(TestGateway gateway, string path, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        var response = await gateway.Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, body, response.Headers.TryGetValues("Cache-Status", out var v) ? string.Join(", ", v) : null, response);
    }

    [Fact]
    public async Task MaxAge_SecondRequestIsHitWithAgeAndCacheStatus()
    {
        Upstream.Answer(("Cache-Control", "max-age=60"), ("Content-Type", "text/plain"), ("ETag", "\"v1\""));
        await using var gateway = await Gateway();

        var first = await GetAsync(gateway, "/c/a");
        var second = await GetAsync(gateway, "/c/a");

        Assert.Equal("body 1", first.Body);
        Assert.Equal("Meshgate; fwd=uri-miss; fwd-status=200; stored", first.CacheStatus);
        Assert.Equal("body 1", second.Body);
        Assert.Equal("Meshgate; hit", second.CacheStatus);
        Assert.True(second.Response.Headers.Age is { } age && age >= TimeSpan.Zero && age < TimeSpan.FromSeconds(30));
        Assert.Equal("text/plain", second.Response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("\"v1\"", second.Response.Headers.ETag!.ToString());
        Assert.Equal(1, Upstream.Requests);

        // A route without a cache policy is untouched.
        var plain = await GetAsync(gateway, "/p/a");
        Assert.Null(plain.CacheStatus);
        Assert.Equal(2, Upstream.Requests);
    }

    [Theory]
    [InlineData("no-store")]
    [InlineData("private, max-age=60")]
    [InlineData("max-age=0")]
    public async Task NotStoredOrNotFresh_EveryRequestReachesUpstream(string cacheControl)
    {
        Upstream.Answer(("Cache-Control", cacheControl));
        await using var gateway = await Gateway();

        await GetAsync(gateway, "/c/a");
        var second = await GetAsync(gateway, "/c/a");

        Assert.Equal("body 2", second.Body);
        Assert.Equal(2, Upstream.Requests);
    }

    [Fact]
    public async Task UpstreamAge_IsCountedIntoAgeAndFreshness()
    {
        // Age 100 with max-age 60: stale on arrival, so it is stored but the next request goes upstream again.
        Upstream.Answer(("Cache-Control", "max-age=600"), ("Age", "100"));
        await using var gateway = await Gateway();

        await GetAsync(gateway, "/c/a");
        var hit = await GetAsync(gateway, "/c/a");

        Assert.Equal("Meshgate; hit", hit.CacheStatus);
        Assert.InRange(hit.Response.Headers.Age!.Value.TotalSeconds, 100, 130);
    }

    [Fact]
    public async Task SetCookie_NotStoredUnlessPolicySays()
    {
        Upstream.Answer(("Cache-Control", "max-age=60"), ("Set-Cookie", "session=abc"));
        await using (var gateway = await Gateway())
        {
            await GetAsync(gateway, "/c/a");
            await GetAsync(gateway, "/c/a");
            Assert.Equal(2, Upstream.Requests);
        }
        await using (var gateway = await Gateway("{ storeSetCookie: true }"))
        {
            await GetAsync(gateway, "/c/a");
            var hit = await GetAsync(gateway, "/c/a");
            Assert.Equal("Meshgate; hit", hit.CacheStatus);
            Assert.Equal(3, Upstream.Requests);
        }
    }

    [Fact]
    public async Task Authorization_NotSharedUnlessPublic()
    {
        Upstream.Answer(("Cache-Control", "max-age=60"));
        await using var gateway = await Gateway();

        var alice = await GetAsync(gateway, "/c/me", ("Authorization", "Bearer alice"));
        var bob = await GetAsync(gateway, "/c/me", ("Authorization", "Bearer bob"));
        var anonymous = await GetAsync(gateway, "/c/me");

        Assert.Equal(("body 1", "body 2", "body 3"), (alice.Body, bob.Body, anonymous.Body));
        Assert.Equal(3, Upstream.Requests);

        Upstream.Answer(("Cache-Control", "public, max-age=60"));
        await GetAsync(gateway, "/c/shared", ("Authorization", "Bearer alice"));
        var shared = await GetAsync(gateway, "/c/shared", ("Authorization", "Bearer bob"));
        Assert.Equal(("body 4", "Meshgate; hit"), (shared.Body, shared.CacheStatus));
    }

    [Fact]
    public async Task Vary_SelectsVariantsAndStarIsNeverServed()
    {
        Upstream.Answer(("Cache-Control", "max-age=60"), ("Vary", "Accept-Language"));
        await using var gateway = await Gateway();

        var en = await GetAsync(gateway, "/c/v", ("Accept-Language", "en"));
        var de = await GetAsync(gateway, "/c/v", ("Accept-Language", "de"));
        var enAgain = await GetAsync(gateway, "/c/v", ("Accept-Language", "en"));
        var deAgain = await GetAsync(gateway, "/c/v", ("Accept-Language", "de"));

        Assert.Equal(("body 1", "body 2", "body 1", "body 2"), (en.Body, de.Body, enAgain.Body, deAgain.Body));
        Assert.Equal(2, Upstream.Requests);

        Upstream.Answer(("Cache-Control", "max-age=60"), ("Vary", "*"));
        await GetAsync(gateway, "/c/star");
        var star = await GetAsync(gateway, "/c/star");
        Assert.Equal("body 4", star.Body);
    }

    [Fact]
    public async Task KeyHeadersAndQueryModes_ShapeTheKey()
    {
        Upstream.Answer(("Cache-Control", "max-age=60"));
        await using var gateway = await Gateway("{ key: { query: sort, dropQuery: [utm_source], headers: [X-Tenant] } }");

        await GetAsync(gateway, "/c/q?a=1&b=2&utm_source=x", ("X-Tenant", "t1"));
        var sorted = await GetAsync(gateway, "/c/q?b=2&a=1", ("X-Tenant", "t1"));
        var otherTenant = await GetAsync(gateway, "/c/q?a=1&b=2", ("X-Tenant", "t2"));

        Assert.Equal("body 1", sorted.Body);
        Assert.Equal("body 2", otherTenant.Body);
    }

    [Fact]
    public async Task StaleEntry_RevalidatedWithIfNoneMatch_304RefreshesAndServesStoredBody()
    {
        // Stale on arrival (Age past max-age), so the next request revalidates without waiting.
        Upstream.Answer(("Cache-Control", "max-age=10"), ("Age", "20"), ("ETag", "\"v1\""), ("X-Version", "1"));
        await using var gateway = await Gateway();
        await GetAsync(gateway, "/c/r");

        Upstream.Respond = (context, _) =>
        {
            context.Response.StatusCode = context.Request.Headers.IfNoneMatch == "\"v1\"" ? 304 : 500;
            context.Response.Headers.CacheControl = "max-age=60";
            context.Response.Headers["X-Version"] = "2";
            return Task.CompletedTask;
        };
        var revalidated = await GetAsync(gateway, "/c/r");
        var hit = await GetAsync(gateway, "/c/r");

        Assert.Equal(HttpStatusCode.OK, revalidated.Status);
        Assert.Equal("body 1", revalidated.Body);
        Assert.Equal("Meshgate; fwd=stale; fwd-status=304", revalidated.CacheStatus);
        Assert.Equal("2", revalidated.Response.Headers.GetValues("X-Version").Single());
        Assert.Equal(("body 1", "Meshgate; hit"), (hit.Body, hit.CacheStatus));
        Assert.Equal(2, Upstream.Requests);
    }

    [Fact]
    public async Task ClientConditional_AnsweredWith304FromCache()
    {
        Upstream.Answer(("Cache-Control", "max-age=60"), ("ETag", "W/\"v1\""), ("Last-Modified", "Mon, 05 Jan 2026 10:00:00 GMT"));
        await using var gateway = await Gateway();
        await GetAsync(gateway, "/c/x");

        var byEtag = await GetAsync(gateway, "/c/x", ("If-None-Match", "\"v0\", \"v1\""));
        var byDate = await GetAsync(gateway, "/c/x", ("If-Modified-Since", "Tue, 06 Jan 2026 10:00:00 GMT"));
        var changed = await GetAsync(gateway, "/c/x", ("If-None-Match", "\"v2\""));

        Assert.Equal((HttpStatusCode.NotModified, ""), (byEtag.Status, byEtag.Body));
        Assert.Equal(HttpStatusCode.NotModified, byDate.Status);
        Assert.Equal((HttpStatusCode.OK, "body 1"), (changed.Status, changed.Body));
        Assert.Equal(1, Upstream.Requests);
    }

    [Fact]
    public async Task RequestDirectives_NoCacheMaxAgeOnlyIfCached()
    {
        Upstream.Answer(("Cache-Control", "max-age=60"), ("Age", "5"));
        await using var gateway = await Gateway();

        var onlyIfCached = await GetAsync(gateway, "/c/d", ("Cache-Control", "only-if-cached"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, onlyIfCached.Status);
        Assert.Equal(0, Upstream.Requests);

        await GetAsync(gateway, "/c/d");
        var cachedOnly = await GetAsync(gateway, "/c/d", ("Cache-Control", "only-if-cached"));
        var noCache = await GetAsync(gateway, "/c/d", ("Cache-Control", "no-cache"));
        var tooOld = await GetAsync(gateway, "/c/d", ("Cache-Control", "max-age=1"));
        var pragma = await GetAsync(gateway, "/c/d", ("Pragma", "no-cache"));

        Assert.Equal("body 1", cachedOnly.Body);
        Assert.Equal("body 2", noCache.Body);
        Assert.Equal("Meshgate; fwd=request; fwd-status=200; stored", noCache.CacheStatus);
        Assert.Equal("body 3", tooOld.Body);
        Assert.Equal("body 4", pragma.Body);
    }

    [Fact]
    public async Task StaleIfError_DeadUpstreamServesStale_WithoutItAnswers502()
    {
        var dead = await CacheUpstream.StartAsync();
        dead.Answer(("Cache-Control", "max-age=10, stale-if-error=600"), ("Age", "20"));
        await using var gateway = await Gateway(endpoint: dead.Endpoint);
        await GetAsync(gateway, "/c/e");
        dead.Answer(("Cache-Control", "max-age=10"), ("Age", "20"));
        await GetAsync(gateway, "/c/plain");
        await dead.DisposeAsync();

        var stale = await GetAsync(gateway, "/c/e");
        var noWindow = await GetAsync(gateway, "/c/plain");

        Assert.Equal((HttpStatusCode.OK, "body 1"), (stale.Status, stale.Body));
        Assert.Equal("Meshgate; fwd=stale; fwd-status=502; detail=stale-if-error", stale.CacheStatus);
        Assert.Equal(HttpStatusCode.BadGateway, noWindow.Status);
    }

    [Fact]
    public async Task UnsafeMethod_InvalidatesTargetAndLocation()
    {
        Upstream.Answer(("Cache-Control", "max-age=60"));
        await using var gateway = await Gateway();
        await GetAsync(gateway, "/c/items");
        await GetAsync(gateway, "/c/items/7");
        await GetAsync(gateway, "/c/other");

        Upstream.Respond = (context, _) =>
        {
            context.Response.StatusCode = 201;
            context.Response.Headers.Location = "/c/items/7";
            return Task.CompletedTask;
        };
        using (var post = await gateway.Client.PostAsync("/c/items", new StringContent("x"))) Assert.Equal(HttpStatusCode.Created, post.StatusCode);
        Upstream.Answer(("Cache-Control", "max-age=60"));

        Assert.Equal("body 5", (await GetAsync(gateway, "/c/items")).Body);
        Assert.Equal("body 6", (await GetAsync(gateway, "/c/items/7")).Body);
        Assert.Equal("body 3", (await GetAsync(gateway, "/c/other")).Body);

        // An error answer invalidates nothing.
        Upstream.Respond = (context, _) => { context.Response.StatusCode = 500; return Task.CompletedTask; };
        using (await gateway.Client.DeleteAsync("/c/other")) { }
        Assert.Equal("body 3", (await GetAsync(gateway, "/c/other")).Body);
    }

    [Fact]
    public async Task HundredConcurrentMisses_OneUpstreamRequest()
    {
        var release = new TaskCompletionSource();
        Upstream.Respond = async (context, n) =>
        {
            await release.Task;
            context.Response.Headers.CacheControl = "max-age=60";
            await context.Response.WriteAsync($"body {n}");
        };
        await using var gateway = await Gateway();

        var requests = Enumerable.Range(0, 100).Select(_ => GetAsync(gateway, "/c/hot")).ToList();
        await Eventually.HoldsAsync(() => Task.FromResult(Upstream.Requests >= 1), TimeSpan.FromSeconds(10), "the first miss reaches the upstream");
        await Task.Delay(200); // let the other 99 arrive and wait
        release.SetResult();
        var answers = await Task.WhenAll(requests);

        Assert.Equal(1, Upstream.Requests);
        Assert.All(answers, a => Assert.Equal((HttpStatusCode.OK, "body 1"), (a.Status, a.Body)));
        // Under load a request may connect only after the first one finished: then it is a plain hit.
        Assert.Equal(99, answers.Count(a => a.CacheStatus is "Meshgate; hit; collapsed" or "Meshgate; hit"));
        Assert.Contains(answers, a => a.CacheStatus == "Meshgate; hit; collapsed");
    }

    [Fact]
    public async Task MemoryBound_HoldsAndEvictsLeastRecentlyUsed()
    {
        var body = new string('x', 10_000);
        Upstream.Respond = (context, _) =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            return context.Response.WriteAsync(body);
        };
        await using var gateway = await Gateway("{ maxBytes: 64KiB, maxEntryBytes: 16KiB }");

        for (var i = 0; i < 20; i++) await GetAsync(gateway, $"/c/big/{i}");
        var store = (Meshgate.Proxy.Caching.Stores.Memory.MemoryCacheStore)gateway.Host.Gateway.Services.GetRequiredService<CacheStores>().All.Single().Value;

        Assert.InRange(store.Bytes, 1, 64 * 1024);
        Assert.Equal(20, Upstream.Requests);
        Assert.Equal("Meshgate; hit", (await GetAsync(gateway, "/c/big/19")).CacheStatus);
        Assert.NotEqual("Meshgate; hit", (await GetAsync(gateway, "/c/big/0")).CacheStatus);
    }

    [Fact]
    public async Task LargerThanMaxEntry_StreamsThroughUnbufferedAndIsNotStored()
    {
        var release = new TaskCompletionSource();
        Upstream.Respond = async (context, n) =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            await context.Response.WriteAsync(new string('a', 3000));
            await context.Response.Body.FlushAsync();
            await release.Task; // the client must see the first part before the rest exists
            await context.Response.WriteAsync(new string('b', 3000));
        };
        await using var gateway = await Gateway("{ maxEntryBytes: 4KiB }");

        using (var response = await gateway.Client.GetAsync("/c/large", HttpCompletionOption.ResponseHeadersRead))
        {
            await using var stream = await response.Content.ReadAsStreamAsync();
            var first = new byte[1000];
            await stream.ReadExactlyAsync(first).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.All(first, b => Assert.Equal((byte)'a', b));
            release.SetResult();
            var rest = await new StreamReader(stream).ReadToEndAsync();
            Assert.Equal(5000, rest.Length);
        }
        await GetAsync(gateway, "/c/large");
        Assert.Equal(2, Upstream.Requests);
    }

    [Fact]
    public async Task Head_AnsweredFromStoredGet_WithItsLengthAndNoBody()
    {
        Upstream.Answer(("Cache-Control", "max-age=60"), ("ETag", "\"g1\""));
        await using var gateway = await Gateway();
        await GetAsync(gateway, "/c/g");

        using var head = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/c/g"));

        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal("Meshgate; hit", string.Join(", ", head.Headers.GetValues("Cache-Status")));
        Assert.Equal(6, head.Content.Headers.ContentLength);
        Assert.Equal("\"g1\"", head.Headers.ETag!.ToString());
        Assert.Equal("", await head.Content.ReadAsStringAsync());
        Assert.Equal(1, Upstream.Requests);
    }

    private static async Task<(HttpStatusCode Status, string Body, string? ContentRange, string? CacheStatus)> RangeAsync(TestGateway gateway, string path, string range, string? ifRange = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation("Range", range);
        if (ifRange is not null) request.Headers.TryAddWithoutValidation("If-Range", ifRange);
        using var response = await gateway.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentRange?.ToString(),
            response.Headers.TryGetValues("Cache-Status", out var v) ? string.Join(", ", v) : null);
    }

    [Fact]
    public async Task Range_SingleRangeServedFromStored200_As206Or416_MultipleForwarded()
    {
        Upstream.Respond = (context, _) =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            context.Response.Headers.ETag = "\"r1\"";
            return CacheUpstream.WriteBody(context, "0123456789");
        };
        await using var gateway = await Gateway();
        await GetAsync(gateway, "/c/r");

        Assert.Equal((HttpStatusCode.PartialContent, "234", "bytes 2-4/10", "Meshgate; hit"), await RangeAsync(gateway, "/c/r", "bytes=2-4"));
        Assert.Equal((HttpStatusCode.PartialContent, "789", "bytes 7-9/10", "Meshgate; hit"), await RangeAsync(gateway, "/c/r", "bytes=-3"));
        Assert.Equal((HttpStatusCode.PartialContent, "56789", "bytes 5-9/10", "Meshgate; hit"), await RangeAsync(gateway, "/c/r", "bytes=5-100"));
        Assert.Equal((HttpStatusCode.RequestedRangeNotSatisfiable, "", "bytes */10", "Meshgate; hit"), await RangeAsync(gateway, "/c/r", "bytes=20-"));
        Assert.Equal((HttpStatusCode.PartialContent, "0", "bytes 0-0/10", "Meshgate; hit"), await RangeAsync(gateway, "/c/r", "bytes=0-0", ifRange: "\"r1\""));
        // If-Range names another version: the whole current one.
        Assert.Equal((HttpStatusCode.OK, "0123456789", null, "Meshgate; hit"), await RangeAsync(gateway, "/c/r", "bytes=0-0", ifRange: "\"r0\""));
        // Another unit: ignored, the whole response.
        Assert.Equal((HttpStatusCode.OK, "0123456789", null, "Meshgate; hit"), await RangeAsync(gateway, "/c/r", "items=0-1"));
        Assert.Equal(1, Upstream.Requests);

        var multiple = await RangeAsync(gateway, "/c/r", "bytes=0-1,3-4");
        Assert.Equal((HttpStatusCode.OK, "0123456789", "Meshgate; fwd=bypass; fwd-status=200; detail=multiple-ranges"), (multiple.Status, multiple.Body, multiple.CacheStatus));
        Assert.Equal(2, Upstream.Requests);
    }

    [Fact]
    public async Task Range_Upstream206_IsNeverStored()
    {
        Upstream.Respond = (context, n) =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            if (context.Request.Headers.Range.Count == 0) return CacheUpstream.WriteBody(context, $"whole {n}");
            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = "bytes 0-1/7";
            return CacheUpstream.WriteBody(context, "wh");
        };
        await using var gateway = await Gateway();

        var partial = await RangeAsync(gateway, "/c/p", "bytes=0-1");
        var whole = await GetAsync(gateway, "/c/p");
        var again = await RangeAsync(gateway, "/c/p", "bytes=0-1");

        Assert.Equal((HttpStatusCode.PartialContent, "wh", "Meshgate; fwd=uri-miss; fwd-status=206"), (partial.Status, partial.Body, partial.CacheStatus));
        Assert.Equal(("whole 2", "Meshgate; fwd=uri-miss; fwd-status=200; stored"), (whole.Body, whole.CacheStatus));
        Assert.Equal((HttpStatusCode.PartialContent, "wh", "Meshgate; hit"), (again.Status, again.Body, again.CacheStatus));
        Assert.Equal(2, Upstream.Requests);
    }

    [Fact]
    public async Task ChunkedBody_StoredWhenItFits_ButStoredIsClaimedOnlyForAKnownLength()
    {
        Upstream.Respond = (context, n) =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            var size = context.Request.Path.StartsWithSegments("/c/big") ? 6000 : 10;
            return context.Response.WriteAsync(new string((char)('a' + n), size)); // no Content-Length: chunked
        };
        await using var gateway = await Gateway("{ maxEntryBytes: 4KiB }");

        var small = await GetAsync(gateway, "/c/small");
        var smallAgain = await GetAsync(gateway, "/c/small");
        var big = await GetAsync(gateway, "/c/big");
        var bigAgain = await GetAsync(gateway, "/c/big");

        Assert.Equal("Meshgate; fwd=uri-miss; fwd-status=200", small.CacheStatus);
        Assert.Equal("Meshgate; hit", smallAgain.CacheStatus);
        Assert.Equal("Meshgate; fwd=uri-miss; fwd-status=200", big.CacheStatus);
        Assert.Equal(("Meshgate; fwd=uri-miss; fwd-status=200", 6000), (bigAgain.CacheStatus, bigAgain.Body.Length));
        Assert.Equal(3, Upstream.Requests);
    }

    [Fact]
    public async Task Metrics_CountRequestsByRouteAndResult()
    {
        await using var gateway = await Gateway();
        var meters = gateway.Host.Gateway.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        var counts = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Name == "meshgate.cache.requests") l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? route = null, result = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "route") route = tag.Value as string;
                else if (tag.Key == "result") result = tag.Value as string;
            }
            counts.AddOrUpdate($"{route}/{result}", value, (_, v) => v + value);
        });
        listener.Start();

        Upstream.Answer(("Cache-Control", "max-age=60"));
        await GetAsync(gateway, "/c/a");
        await GetAsync(gateway, "/c/a");
        await GetAsync(gateway, "/c/a");
        Upstream.Answer(("Cache-Control", "max-age=60"), ("ETag", "\"e\""), ("Age", "100"));
        await GetAsync(gateway, "/c/e");
        Upstream.Respond = (context, _) =>
        {
            context.Response.StatusCode = 304;
            context.Response.Headers.CacheControl = "max-age=60";
            return Task.CompletedTask;
        };
        await GetAsync(gateway, "/c/e");
        Upstream.Answer(("Cache-Control", "no-store"));
        await GetAsync(gateway, "/c/n");
        await GetAsync(gateway, "/p/plain");

        Assert.Equal(new Dictionary<string, long> { ["cached/miss"] = 2, ["cached/hit"] = 2, ["cached/revalidated"] = 1, ["cached/bypass"] = 1 },
            counts.OrderBy(c => c.Key).ToDictionary());
    }

    [Fact]
    public async Task Head_CachedSeparatelyWithoutBody()
    {
        Upstream.Answer(("Cache-Control", "max-age=60"));
        await using var gateway = await Gateway();

        using var head1 = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/c/h"));
        using var head2 = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/c/h"));

        Assert.Equal(HttpStatusCode.OK, head2.StatusCode);
        Assert.Equal("Meshgate; hit", string.Join(", ", head2.Headers.GetValues("Cache-Status")));
        Assert.Equal("", await head2.Content.ReadAsStringAsync());
        Assert.Equal(1, Upstream.Requests);
    }
}

public sealed class CachePurgeTests : CacheUpstreamTestBase
{
    [Fact]
    public async Task Purge_UrlPrefixAndSurrogateKey_NextRequestsGoUpstream()
    {
        Upstream.Respond = (context, n) =>
        {
            context.Response.Headers.CacheControl = "max-age=600";
            context.Response.Headers["Surrogate-Key"] = context.Request.Path.StartsWithSegments("/c/products") ? "products all" : "all";
            return context.Response.WriteAsync($"body {n}");
        };
        await using var gateway = await TestGateway.StartAsync($$"""
            admin: { address: 127.0.0.1:0, token: a-long-admin-token-123 }
            caches:
              short: {}
            routes:
              - { id: cached, match: { pathPrefix: /c }, cluster: backend, cache: short }
            clusters:
              - id: backend
                endpoints: ["{{Upstream.Endpoint}}"]
            """);
        async Task<string> Get(string path) => await gateway.Client.GetStringAsync(path);
        async Task<(HttpStatusCode, string)> Purge(string json, string? token = "a-long-admin-token-123")
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/admin/cache/purge") { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
            if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await gateway.Admin.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        foreach (var path in new[] { "/c/a", "/c/b/1", "/c/b/2", "/c/products/1", "/c/products/2" }) await Get(path);
        Assert.Equal(5, Upstream.Requests);
        var origin = gateway.Url.ToString().TrimEnd('/');

        Assert.Equal(HttpStatusCode.Unauthorized, (await Purge($$"""{"url":"{{origin}}/c/a"}""", token: null)).Item1);
        Assert.Equal(HttpStatusCode.BadRequest, (await Purge("""{"url":"x","prefix":"y"}""")).Item1);
        Assert.Equal((HttpStatusCode.OK, """{"purged":1}"""), await Purge($$"""{"url":"{{origin}}/c/a"}"""));
        Assert.Equal((HttpStatusCode.OK, """{"purged":2}"""), await Purge($$"""{"prefix":"{{origin}}/c/b/"}"""));
        Assert.Equal((HttpStatusCode.OK, """{"purged":2}"""), await Purge("""{"surrogateKey":"products"}"""));

        Assert.Equal("body 6", await Get("/c/a"));
        Assert.Equal("body 7", await Get("/c/b/1"));
        Assert.Equal("body 8", await Get("/c/products/1"));
        Assert.Equal(8, Upstream.Requests);
    }
}

public sealed class StaleWhileRevalidateTests : CacheUpstreamTestBase
{
    [Fact]
    public async Task StaleWithinWindow_ServedAtOnceAndRefreshedInBackground()
    {
        // Stale on arrival (Age past max-age) but inside stale-while-revalidate.
        Upstream.Answer(("Cache-Control", "max-age=10, stale-while-revalidate=600"), ("Age", "20"), ("ETag", "\"v1\""));
        await using var gateway = await TestGateway.StartAsync($$"""
            caches:
              short: {}
            routes:
              - { id: cached, match: { pathPrefix: /c }, cluster: backend, cache: short }
            clusters:
              - id: backend
                endpoints: ["{{Upstream.Endpoint}}"]
            """);
        await gateway.Client.GetStringAsync("/c/s");

        var release = new TaskCompletionSource();
        Upstream.Respond = async (context, n) =>
        {
            await release.Task; // the client's answer must not wait for this
            context.Response.Headers.CacheControl = "max-age=600";
            context.Response.Headers.ETag = "\"v2\"";
            await context.Response.WriteAsync($"body {n} for {context.Request.Headers.IfNoneMatch}");
        };
        using var stale = await gateway.Client.GetAsync("/c/s").WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("body 1", await stale.Content.ReadAsStringAsync());
        Assert.Equal("Meshgate; hit; detail=stale-while-revalidate", string.Join(", ", stale.Headers.GetValues("Cache-Status")));

        release.SetResult();
        await Eventually.HoldsAsync(async () => (await gateway.Client.GetStringAsync("/c/s")) == "body 2 for \"v1\"", TimeSpan.FromSeconds(10), "the background refresh stored the new answer");
        Assert.Equal(2, Upstream.Requests);
    }
}

public sealed class CacheAccessLogTests : CacheUpstreamTestBase
{
    [Fact]
    public async Task AccessLog_CacheFieldSaysMissHitBypassAndNothingWithoutCache()
    {
        await using var gateway = await TestGateway.StartAsync($$"""
            accessLog: { output: access.log }
            caches:
              short: {}
            routes:
              - { id: cached, match: { pathPrefix: /c }, cluster: backend, cache: short }
              - { id: plain, match: { pathPrefix: /p }, cluster: backend }
            clusters:
              - id: backend
                endpoints: ["{{Upstream.Endpoint}}"]
            """);
        Upstream.Answer(("Cache-Control", "max-age=60"));
        await gateway.Client.GetStringAsync("/c/a");
        await gateway.Client.GetStringAsync("/c/a");
        Upstream.Answer(("Cache-Control", "no-store"));
        await gateway.Client.GetStringAsync("/c/b");
        await gateway.Client.GetStringAsync("/p/a");

        var lines = await Meshgate.IntegrationTests.AccessLog.AccessLogFiles.WaitForLinesAsync(Path.Combine(gateway.Directory, "access.log"), 4);

        Assert.Equal(["miss", "hit", "bypass", null], lines.Select(l => l.GetProperty("cache").GetString()));
        Assert.Equal([1, 0, 1, 1], lines.Select(l => l.GetProperty("attempts").GetInt32()));
    }
}
