using Meshgate.Proxy.Caching.Rfc9111;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Tests.Caching;

public sealed class HttpCacheRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 10, 12, 0, 0, TimeSpan.Zero);

    private static HeaderDictionary Headers(params (string Name, string Value)[] headers)
    {
        var result = new HeaderDictionary();
        foreach (var (name, value) in headers) result.Append(name, value);
        return result;
    }

    private static string? WhyNot(string cacheControl, int status = 200, string method = "GET", string requestCacheControl = "", bool authorization = false, bool storeSetCookie = false, params (string, string)[] headers) =>
        HttpCacheRules.WhyNotStorable(method, CacheDirectives.Parse(requestCacheControl), status, CacheDirectives.Parse(cacheControl), Headers([("Cache-Control", cacheControl), .. headers]), authorization, storeSetCookie);

    [Fact]
    public void Parse_AllDirectives_ReadsEach()
    {
        var d = CacheDirectives.Parse(new(["public, max-age=60, s-maxage=\"120\"", "must-revalidate,proxy-revalidate, no-cache, no-store, private, stale-while-revalidate=5, stale-if-error=7, min-fresh=3, only-if-cached, max-stale"]));
        Assert.True(d.Public && d.MustRevalidate && d.ProxyRevalidate && d.NoCache && d.NoStore && d.Private && d.OnlyIfCached);
        Assert.Equal(TimeSpan.FromSeconds(60), d.MaxAge);
        Assert.Equal(TimeSpan.FromSeconds(120), d.SharedMaxAge);
        Assert.Equal(TimeSpan.FromSeconds(5), d.StaleWhileRevalidate);
        Assert.Equal(TimeSpan.FromSeconds(7), d.StaleIfError);
        Assert.Equal(TimeSpan.FromSeconds(3), d.MinFresh);
        Assert.Equal(TimeSpan.MaxValue, d.MaxStale);
    }

    [Fact]
    public void Parse_InvalidDeltaAndPragma_StaleAndNoCache()
    {
        Assert.Equal(TimeSpan.Zero, CacheDirectives.Parse("max-age=soon").MaxAge);
        Assert.True(CacheDirectives.Parse(default, "no-cache").NoCache);
        Assert.False(CacheDirectives.Parse("max-age=5", "no-cache").NoCache); // Cache-Control wins over Pragma
    }

    [Theory]
    [InlineData("max-age=60", 200, "GET", "", false, false, null)]
    [InlineData("max-age=60", 200, "HEAD", "", false, false, null)]
    [InlineData("max-age=60", 200, "POST", "", false, false, "method")]
    [InlineData("no-store", 200, "GET", "", false, false, "no-store")]
    [InlineData("max-age=60", 200, "GET", "no-store", false, false, "request no-store")]
    [InlineData("private, max-age=60", 200, "GET", "", false, false, "private")]
    [InlineData("no-cache", 200, "GET", "", false, false, null)] // stored, revalidated on every use
    [InlineData("", 404, "GET", "", false, false, null)] // heuristically cacheable
    [InlineData("", 500, "GET", "", false, false, "status")]
    [InlineData("max-age=60", 500, "GET", "", false, false, null)] // explicit freshness makes any final status storable
    [InlineData("max-age=60", 206, "GET", "", false, false, "status")]
    [InlineData("max-age=60", 304, "GET", "", false, false, "status")]
    [InlineData("max-age=60", 200, "GET", "", true, false, "authorization")]
    [InlineData("public", 200, "GET", "", true, false, null)]
    [InlineData("s-maxage=60", 200, "GET", "", true, false, null)]
    [InlineData("must-revalidate", 200, "GET", "", true, false, null)]
    public void WhyNotStorable_Rules(string cacheControl, int status, string method, string requestCacheControl, bool authorization, bool storeSetCookie, string? expected) =>
        Assert.Equal(expected, WhyNot(cacheControl, status, method, requestCacheControl, authorization, storeSetCookie));

    [Fact]
    public void WhyNotStorable_SetCookieAndVaryStar()
    {
        Assert.Equal("set-cookie", WhyNot("max-age=60", headers: ("Set-Cookie", "a=b")));
        Assert.Null(WhyNot("max-age=60", storeSetCookie: true, headers: ("Set-Cookie", "a=b")));
        Assert.Equal("vary-star", WhyNot("max-age=60", headers: ("Vary", "Accept, *")));
        Assert.Null(WhyNot("max-age=60", headers: ("Vary", "Accept")));
    }

    [Theory]
    [InlineData("s-maxage=30, max-age=10", 30)] // s-maxage wins in a shared cache
    [InlineData("max-age=10", 10)]
    [InlineData("", 0)] // no validator, no explicit freshness, no default TTL
    public void FreshnessLifetime_Directives(string cacheControl, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), HttpCacheRules.FreshnessLifetime(200, CacheDirectives.Parse(cacheControl), Headers(), Now, null));

    [Fact]
    public void FreshnessLifetime_ExpiresMinusDate_InvalidExpiresIsStale()
    {
        var headers = Headers(("Date", Now.ToString("R")), ("Expires", Now.AddMinutes(5).ToString("R")));
        Assert.Equal(TimeSpan.FromMinutes(5), HttpCacheRules.FreshnessLifetime(200, default, headers, Now.AddSeconds(2), null));
        Assert.Equal(TimeSpan.Zero, HttpCacheRules.FreshnessLifetime(200, default, Headers(("Date", Now.ToString("R")), ("Expires", "0")), Now, null));
        // max-age beats Expires.
        Assert.Equal(TimeSpan.FromSeconds(7), HttpCacheRules.FreshnessLifetime(200, CacheDirectives.Parse("max-age=7"), headers, Now, null));
    }

    [Fact]
    public void FreshnessLifetime_Heuristic_TenPercentCappedOnlyWhereAllowed()
    {
        var tenHoursOld = Headers(("Date", Now.ToString("R")), ("Last-Modified", Now.AddHours(-10).ToString("R")));
        Assert.Equal(TimeSpan.FromHours(1), HttpCacheRules.FreshnessLifetime(200, default, tenHoursOld, Now, null));
        var yearOld = Headers(("Date", Now.ToString("R")), ("Last-Modified", Now.AddDays(-365).ToString("R")));
        Assert.Equal(HttpCacheRules.HeuristicCap, HttpCacheRules.FreshnessLifetime(200, default, yearOld, Now, null));
        // 302 is not heuristically cacheable; public makes it so.
        Assert.Equal(TimeSpan.Zero, HttpCacheRules.FreshnessLifetime(302, default, tenHoursOld, Now, null));
        Assert.Equal(TimeSpan.FromHours(1), HttpCacheRules.FreshnessLifetime(302, CacheDirectives.Parse("public"), tenHoursOld, Now, null));
    }

    [Fact]
    public void FreshnessLifetime_DefaultTtl_OnlyWithoutExplicitFreshness()
    {
        var ttl = TimeSpan.FromSeconds(42);
        Assert.Equal(ttl, HttpCacheRules.FreshnessLifetime(200, default, Headers(), Now, ttl));
        Assert.Equal(TimeSpan.FromSeconds(5), HttpCacheRules.FreshnessLifetime(200, CacheDirectives.Parse("max-age=5"), Headers(), Now, ttl));
        Assert.Equal(TimeSpan.Zero, HttpCacheRules.FreshnessLifetime(500, default, Headers(), Now, ttl));
    }

    [Fact]
    public void InitialAge_TakesLargerOfApparentAndCorrectedAge()
    {
        // Upstream says Age: 10 and the round trip took 2s: corrected age 12 beats apparent age 3.
        var headers = Headers(("Date", Now.AddSeconds(-3).ToString("R")), ("Age", "10"));
        Assert.Equal(TimeSpan.FromSeconds(12), HttpCacheRules.InitialAge(headers, Now.AddSeconds(-2), Now));
        // A Date far in the past (clock skew): apparent age wins.
        var skewed = Headers(("Date", Now.AddSeconds(-30).ToString("R")));
        Assert.Equal(TimeSpan.FromSeconds(30), HttpCacheRules.InitialAge(skewed, Now, Now));
        Assert.Equal(TimeSpan.FromSeconds(35), HttpCacheRules.CurrentAge(TimeSpan.FromSeconds(30), Now, Now.AddSeconds(5)));
    }

    [Theory]
    [InlineData("", "max-age=60", 10, "Fresh")]
    [InlineData("", "max-age=60", 60, "MustRevalidate")]
    [InlineData("no-cache", "max-age=60", 10, "MustRevalidate")]
    [InlineData("", "no-cache, max-age=60", 10, "MustRevalidate")]
    [InlineData("max-age=5", "max-age=60", 10, "MustRevalidate")]
    [InlineData("min-fresh=55", "max-age=60", 10, "MustRevalidate")]
    [InlineData("min-fresh=50", "max-age=60", 10, "Fresh")]
    [InlineData("max-stale=10", "max-age=60", 65, "StaleAllowed")]
    [InlineData("max-stale", "max-age=60", 6000, "StaleAllowed")]
    [InlineData("max-stale=10", "max-age=60", 75, "MustRevalidate")]
    [InlineData("max-stale=10", "max-age=60, must-revalidate", 65, "MustRevalidate")]
    [InlineData("max-stale=10", "max-age=60, proxy-revalidate", 65, "MustRevalidate")]
    [InlineData("max-stale=10", "s-maxage=60", 65, "MustRevalidate")]
    [InlineData("", "max-age=60, stale-while-revalidate=30", 80, "StaleWhileRevalidate")]
    [InlineData("", "max-age=60, stale-while-revalidate=30", 95, "MustRevalidate")]
    public void Evaluate_RequestAndResponseDirectives(string request, string response, int ageSeconds, string expected)
    {
        var directives = CacheDirectives.Parse(response);
        var lifetime = HttpCacheRules.FreshnessLifetime(200, directives, Headers(), Now, null);
        Assert.Equal(Enum.Parse<Freshness>(expected), HttpCacheRules.Evaluate(CacheDirectives.Parse(request), directives, lifetime, TimeSpan.FromSeconds(ageSeconds)));
    }

    [Theory]
    [InlineData("", "max-age=60, stale-if-error=30", 80, true)]
    [InlineData("", "max-age=60, stale-if-error=30", 95, false)]
    [InlineData("stale-if-error=60", "max-age=60", 95, true)]
    [InlineData("", "max-age=60, stale-if-error=30, must-revalidate", 80, false)]
    [InlineData("", "max-age=60", 61, false)]
    public void MayServeStaleOnError_Windows(string request, string response, int ageSeconds, bool expected) =>
        Assert.Equal(expected, HttpCacheRules.MayServeStaleOnError(CacheDirectives.Parse(request), CacheDirectives.Parse(response), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(ageSeconds)));

    [Theory]
    [InlineData("max-age=60", false)]
    [InlineData("public, max-age=60", true)]
    [InlineData("s-maxage=60", true)]
    [InlineData("must-revalidate, max-age=60", true)]
    public void MayServeAuthorized_NeedsPublicSMaxAgeOrMustRevalidate(string response, bool expected) =>
        Assert.Equal(expected, HttpCacheRules.MayServeAuthorized(CacheDirectives.Parse(response)));
}
