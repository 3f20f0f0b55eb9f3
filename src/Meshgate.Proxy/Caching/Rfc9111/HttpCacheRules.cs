using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Meshgate.Proxy.Caching.Rfc9111;

/// <summary>What a shared cache may do with a response, and how long it stays fresh: RFC 9111 sections 3, 4.2 and 4.2.3.</summary>
internal static class HttpCacheRules
{
    /// <summary>Heuristic freshness is capped here, so an old Last-Modified cannot make an entry fresh for months.</summary>
    public static readonly TimeSpan HeuristicCap = TimeSpan.FromDays(1);

    /// <summary>Status codes that are cacheable without explicit freshness (RFC 9110 section 15.1).</summary>
    public static bool IsHeuristicallyCacheable(int status) =>
        status is 200 or 203 or 204 or 300 or 301 or 308 or 404 or 405 or 410 or 414 or 501;

    /// <summary>Why a response is not stored; null when a shared cache may store it (RFC 9111 section 3).</summary>
    /// <param name="requestHasAuthorization">The request carried Authorization (section 3.5).</param>
    /// <param name="storeSetCookie">The policy allows storing responses that set cookies.</param>
    public static string? WhyNotStorable(string method, CacheDirectives request, int status, CacheDirectives response, IHeaderDictionary headers, bool requestHasAuthorization, bool storeSetCookie)
    {
        if (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method)) return "method";
        if (request.NoStore) return "request no-store";
        if (response.NoStore) return "no-store";
        if (response.Private) return "private";
        // 206 and 304 are not complete responses; this cache stores only complete ones.
        if (status < 200 || status is 206 or 304) return "status";
        if (requestHasAuthorization && !response.Public && response.SharedMaxAge is null && !response.MustRevalidate) return "authorization";
        if (!storeSetCookie && headers.ContainsKey(HeaderNames.SetCookie)) return "set-cookie";
        if (HasVaryStar(headers)) return "vary-star";
        var explicitFreshness = response.SharedMaxAge is not null || response.MaxAge is not null || headers.ContainsKey(HeaderNames.Expires);
        if (!explicitFreshness && !response.Public && !IsHeuristicallyCacheable(status)) return "status";
        return null;
    }

    public static bool HasVaryStar(IHeaderDictionary headers)
    {
        foreach (var line in headers.Vary)
        {
            if (line is null) continue;
            foreach (var name in line.Split(',', StringSplitOptions.TrimEntries)) if (name == "*") return true;
        }
        return false;
    }

    /// <summary>
    /// How long the response stays fresh (RFC 9111 section 4.2.1): s-maxage, then max-age, then Expires minus Date;
    /// without those, the policy's default TTL when it has one, else 10% of the Last-Modified age (capped),
    /// both only for heuristically cacheable statuses or public responses. Zero: stale at once.
    /// </summary>
    public static TimeSpan FreshnessLifetime(int status, CacheDirectives response, IHeaderDictionary headers, DateTimeOffset responseTime, TimeSpan? defaultTtl)
    {
        if (response.SharedMaxAge is { } shared) return shared;
        if (response.MaxAge is { } maxAge) return maxAge;
        var date = ParseDate(headers.Date) ?? responseTime;
        if (headers.ContainsKey(HeaderNames.Expires))
        {
            // An invalid Expires (often "0") means already expired (section 5.3).
            return ParseDate(headers.Expires) is { } expires && expires > date ? expires - date : TimeSpan.Zero;
        }
        if (!IsHeuristicallyCacheable(status) && !response.Public) return TimeSpan.Zero;
        if (defaultTtl is { } ttl) return ttl;
        if (ParseDate(headers.LastModified) is { } lastModified && lastModified < date)
        {
            var heuristic = TimeSpan.FromTicks((date - lastModified).Ticks / 10);
            return heuristic < HeuristicCap ? heuristic : HeuristicCap;
        }
        return TimeSpan.Zero;
    }

    /// <summary>The age of a stored response when it was received (RFC 9111 section 4.2.3): corrected_initial_age.</summary>
    public static TimeSpan InitialAge(IHeaderDictionary headers, DateTimeOffset requestTime, DateTimeOffset responseTime)
    {
        var date = ParseDate(headers.Date) ?? responseTime;
        var apparentAge = responseTime > date ? responseTime - date : TimeSpan.Zero;
        var ageValue = long.TryParse(headers.Age.ToString(), out var seconds) && seconds >= 0 ? TimeSpan.FromSeconds(Math.Min(seconds, int.MaxValue)) : TimeSpan.Zero;
        var correctedAgeValue = ageValue + (responseTime - requestTime);
        return apparentAge > correctedAgeValue ? apparentAge : correctedAgeValue;
    }

    /// <summary>current_age = corrected_initial_age + resident_time (RFC 9111 section 4.2.3).</summary>
    public static TimeSpan CurrentAge(TimeSpan initialAge, DateTimeOffset responseTime, DateTimeOffset now) =>
        initialAge + (now > responseTime ? now - responseTime : TimeSpan.Zero);

    /// <summary>
    /// Whether a stored response may answer a request without contacting the upstream (RFC 9111 section 4.2,
    /// 5.2.1 and 5.2.2), or else what must happen.
    /// </summary>
    public static Freshness Evaluate(CacheDirectives request, CacheDirectives response, TimeSpan lifetime, TimeSpan age)
    {
        // no-cache on either side: stored, but every use is revalidated first.
        if (request.NoCache || response.NoCache) return Freshness.MustRevalidate;
        if (request.MaxAge is { } maxAge && age > maxAge) return Freshness.MustRevalidate;
        var remaining = lifetime - age;
        if (remaining > TimeSpan.Zero)
        {
            return request.MinFresh is { } minFresh && remaining < minFresh ? Freshness.MustRevalidate : Freshness.Fresh;
        }
        // Stale. must-revalidate, proxy-revalidate and s-maxage forbid a shared cache to serve it unvalidated.
        if (response.MustRevalidate || response.ProxyRevalidate || response.SharedMaxAge is not null) return Freshness.MustRevalidate;
        var staleness = -remaining;
        if (request.MaxStale is { } maxStale && staleness <= maxStale) return Freshness.StaleAllowed;
        if (response.StaleWhileRevalidate is { } swr && staleness <= swr) return Freshness.StaleWhileRevalidate;
        return Freshness.MustRevalidate;
    }

    /// <summary>Whether an upstream failure may be answered with the stale stored response (RFC 5861 section 4).</summary>
    public static bool MayServeStaleOnError(CacheDirectives request, CacheDirectives response, TimeSpan lifetime, TimeSpan age)
    {
        if (response.MustRevalidate || response.ProxyRevalidate || response.SharedMaxAge is not null) return false;
        var staleness = age - lifetime;
        var allowed = request.StaleIfError ?? response.StaleIfError;
        return allowed is { } window && staleness <= window;
    }

    /// <summary>The errors that stale-if-error covers (RFC 5861 section 4).</summary>
    public static bool IsError(int status) => status is 500 or 502 or 503 or 504;

    /// <summary>Whether an entry stored for a request with Authorization may answer one (RFC 9111 section 3.5).</summary>
    public static bool MayServeAuthorized(CacheDirectives response) =>
        response.Public || response.SharedMaxAge is not null || response.MustRevalidate;

    public static DateTimeOffset? ParseDate(Microsoft.Extensions.Primitives.StringValues value) =>
        HeaderUtilities.TryParseDate(value.ToString(), out var date) ? date : null;
}

internal enum Freshness
{
    /// <summary>Fresh enough for this request: serve it.</summary>
    Fresh,

    /// <summary>Stale, but the request's max-stale accepts it: serve it.</summary>
    StaleAllowed,

    /// <summary>Stale within stale-while-revalidate: serve it and revalidate in the background.</summary>
    StaleWhileRevalidate,

    /// <summary>Ask the upstream first (conditionally when the entry has a validator).</summary>
    MustRevalidate,
}
