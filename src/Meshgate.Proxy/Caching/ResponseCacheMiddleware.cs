using System.Collections.Concurrent;
using System.Globalization;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Caching.Rfc9111;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace Meshgate.Proxy.Caching;

/// <summary>
/// The route's shared HTTP cache (RFC 9111): serves fresh hits, revalidates stale entries, stores cacheable
/// misses while they stream to the client, coalesces concurrent misses, and invalidates on unsafe methods.
/// Answers HEAD from a stored GET and a single byte range from a stored 200. A store that does not answer (Redis
/// down or slow) never fails a request: it is forwarded, unstored, with <c>detail=store-unavailable</c>.
/// Routes without a cache policy get <c>next</c>'s own task: no allocation, no extra async frame.
/// </summary>
internal sealed class ResponseCacheMiddleware(RequestDelegate next, TimeProvider time, IServiceProvider services, CachingMetrics metrics)
{
    public const string CacheStatusHeader = "Cache-Status";
    private const string Cache = "Meshgate";

    /// <summary>Fields that describe one connection, never stored (RFC 9111 section 3.1); Age is recomputed on every answer.</summary>
    private static readonly HashSet<string> NotStored = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "TE", "Trailer", "Upgrade", "Proxy-Authenticate", "Age", CacheStatusHeader,
    };

    /// <summary>Fields a 304 does not change in the stored response: they describe the stored body (RFC 9111 section 3.2).</summary>
    private static readonly HashSet<string> NotUpdatedBy304 = new(StringComparer.OrdinalIgnoreCase)
    {
        "Content-Length", "Content-Encoding", "Content-Type", "Content-Range", "Transfer-Encoding",
    };

    /// <summary>Misses being filled on this node (coalescing is per node), by key; each ends with the entry it stored, if any.</summary>
    /// <summary>Request fields a background refresh leaves out: it carries the entry's validators and wants the whole response.</summary>
    private static readonly HashSet<string> RefreshDrops = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.IfNoneMatch, HeaderNames.IfModifiedSince, HeaderNames.IfMatch, HeaderNames.IfUnmodifiedSince, HeaderNames.Range, HeaderNames.IfRange,
    };

    private readonly ConcurrentDictionary<string, Task<CachedResponse?>> _inFlight = new(StringComparer.Ordinal);

    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<RouteCache>() is not { } cache) return next(context);
        var method = context.Request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method)) return LookupAsync(context, cache);
        return IsUnsafe(method) ? ForwardAndInvalidateAsync(context, cache) : next(context);
    }

    private static bool IsUnsafe(string method) => !(HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method) || HttpMethods.IsConnect(method));

    private async Task LookupAsync(HttpContext context, RouteCache cache)
    {
        var (policy, store) = (cache.Policy, cache.Store);
        var request = context.Request;
        var record = context.Features.Get<RequestRecord>();
        var key = CacheKey.For(request, policy);
        var directives = CacheDirectives.Parse(request.Headers.CacheControl, request.Headers.Pragma);
        var authorized = request.Headers.ContainsKey(HeaderNames.Authorization);
        var head = HttpMethods.IsHead(request.Method);
        var range = head ? RangeKind.None : ByteRanges.Classify(request.Headers.Range);

        if (range == RangeKind.Multiple)
        {
            // The answer would be multipart/byteranges, which the cache does not build: the upstream answers it.
            await ForwardAsync(context, cache, key, directives, authorized, stale: null, record, bypass: "multiple-ranges");
            return;
        }
        if (head)
        {
            // A HEAD is answered from a usable stored GET (RFC 9110 section 9.3.2: the same header fields).
            var gets = await store.GetAsync(CacheKey.For(HttpMethods.Get, request.Scheme, request.Host.Value ?? "", request.PathBase + request.Path, request.QueryString.Value, policy));
            if (gets is null)
            {
                await StoreUnavailableAsync(context, cache, key, directives, authorized, record);
                return;
            }
            if (Select(gets, request, authorized) is { } full && Judge(full, directives) is Freshness.Fresh or Freshness.StaleAllowed)
            {
                Outcome(record, cache, "hit");
                await ServeAsync(context, full, $"{Cache}; hit");
                return;
            }
        }

        var variants = await store.GetAsync(key);
        if (variants is null)
        {
            await StoreUnavailableAsync(context, cache, key, directives, authorized, record);
            return;
        }
        var entry = Select(variants, request, authorized);
        if (entry is null && !authorized && !directives.NoCache && !directives.NoStore && !directives.OnlyIfCached && range == RangeKind.None)
        {
            // Coalescing: the first miss for a key forwards; the others wait for it (bounded), then take what it stored.
            var done = new TaskCompletionSource<CachedResponse?>(TaskCreationOptions.RunContinuationsAsynchronously);
            var leader = _inFlight.GetOrAdd(key, done.Task);
            if (leader == done.Task)
            {
                CachedResponse? stored = null;
                try
                {
                    stored = await ForwardAsync(context, cache, key, directives, authorized, stale: null, record);
                }
                finally
                {
                    _inFlight.TryRemove(new KeyValuePair<string, Task<CachedResponse?>>(key, done.Task));
                    done.SetResult(stored);
                }
                return;
            }
            CachedResponse? shared = null;
            try
            {
                shared = await leader.WaitAsync(policy.CoalesceTimeout, time, context.RequestAborted);
            }
            catch (TimeoutException)
            {
                // The first request is slow: go on alone rather than wait longer.
            }
            // The first request's answer may be another variant (Vary): then look in the store again.
            entry = shared is not null ? Select([shared], request, authorized) : null;
            if (entry is null && await store.GetAsync(key) is { } again) entry = Select(again, request, authorized);
            if (entry is not null && Judge(entry, directives) is Freshness.Fresh or Freshness.StaleAllowed)
            {
                Outcome(record, cache, "hit");
                await ServeAsync(context, entry, $"{Cache}; hit; collapsed");
                return;
            }
        }

        if (entry is not null)
        {
            var freshness = Judge(entry, directives);
            if (freshness is Freshness.Fresh or Freshness.StaleAllowed)
            {
                Outcome(record, cache, freshness == Freshness.Fresh ? "hit" : "stale");
                await ServeAsync(context, entry, freshness == Freshness.Fresh ? $"{Cache}; hit" : $"{Cache}; hit; detail=max-stale");
                return;
            }
            if (freshness == Freshness.StaleWhileRevalidate)
            {
                // RFC 5861 section 3: the client gets the stale entry now; one background request refreshes it.
                Outcome(record, cache, "stale");
                RefreshInBackground(context, policy, store, key, entry);
                await ServeAsync(context, entry, $"{Cache}; hit; detail=stale-while-revalidate");
                return;
            }
        }
        if (directives.OnlyIfCached)
        {
            OnlyIfCachedMiss(context, cache, record, "only-if-cached");
            return;
        }
        await ForwardAsync(context, cache, key, directives, authorized, entry, record);
    }

    /// <summary>RFC 9111 section 5.2.1.7: nothing usable stored, and the client forbids forwarding.</summary>
    private void OnlyIfCachedMiss(HttpContext context, RouteCache cache, RequestRecord? record, string detail)
    {
        Outcome(record, cache, "miss");
        context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
        context.Response.Headers[CacheStatusHeader] = $"{Cache}; fwd=miss; detail={detail}";
    }

    /// <summary>The store did not answer: forward as if there were no cache, and store nothing (it would fail too).</summary>
    private Task StoreUnavailableAsync(HttpContext context, RouteCache cache, string key, CacheDirectives directives, bool authorized, RequestRecord? record)
    {
        if (!directives.OnlyIfCached) return ForwardAsync(context, cache, key, directives, authorized, stale: null, record, bypass: "store-unavailable");
        OnlyIfCachedMiss(context, cache, record, "store-unavailable");
        return Task.CompletedTask;
    }

    private void Outcome(RequestRecord? record, RouteCache cache, string result)
    {
        record?.CacheStatus = result;
        metrics.Request(cache.RouteId, result);
    }

    private Freshness Judge(CachedResponse entry, CacheDirectives request) =>
        HttpCacheRules.Evaluate(request, entry.Directives, entry.Lifetime, HttpCacheRules.CurrentAge(entry.InitialAge, entry.ResponseTime, time.GetUtcNow()));

    /// <summary>
    /// Sends a copy of the request (with the entry's validators) through the rest of the pipeline on its own,
    /// after the client's answer, and stores what comes back: a 304 refreshes the entry, a storable answer replaces it.
    /// </summary>
    private void RefreshInBackground(HttpContext context, CachePolicy policy, ICacheStore store, string key, CachedResponse entry)
    {
        var refreshKey = "refresh " + key;
        var done = new TaskCompletionSource<CachedResponse?>();
        if (_inFlight.TryAdd(refreshKey, done.Task) is false) return; // one refresh per key at a time
        var request = context.Request;
        var copy = new DefaultHttpContext { RequestServices = services };
        copy.Request.Method = request.Method;
        copy.Request.Scheme = request.Scheme;
        copy.Request.Host = request.Host;
        copy.Request.PathBase = request.PathBase;
        copy.Request.Path = request.Path;
        copy.Request.QueryString = request.QueryString;
        foreach (var (name, value) in request.Headers)
        {
            // The client's conditionals and ranges are its own: the refresh asks for the whole response.
            if (!RefreshDrops.Contains(name)) copy.Request.Headers[name] = value;
        }
        if (entry.ETag is { } etag) copy.Request.Headers.IfNoneMatch = etag;
        if (entry.LastModified is { } lastModified) copy.Request.Headers.IfModifiedSince = lastModified;
        copy.Connection.RemoteIpAddress = context.Connection.RemoteIpAddress;
        copy.SetEndpoint(context.GetEndpoint());
        var body = new MemoryStream();
        copy.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(body));
        var requestTime = time.GetUtcNow();
        _ = Task.Run(async () =>
        {
            try
            {
                await next(copy);
                var response = copy.Response;
                if (copy.Features.Get<IForwarderErrorFeature>() is not null) return;
                if (response.StatusCode == StatusCodes.Status304NotModified)
                {
                    await store.SetAsync(key, Refresh(entry, response.Headers, requestTime, policy, copy.Request));
                }
                else if (body.Length <= policy.MaxEntryBytes && HttpCacheRules.WhyNotStorable(copy.Request.Method, default, response.StatusCode,
                    CacheDirectives.Parse(response.Headers.CacheControl), response.Headers, copy.Request.Headers.ContainsKey(HeaderNames.Authorization), policy.StoreSetCookie) is null)
                {
                    await store.SetAsync(key, Build(response.StatusCode, response.Headers, requestTime, policy, copy.Request) with { Body = body.ToArray() });
                }
            }
            catch (Exception)
            {
                // A failed refresh leaves the stale entry; the next request past its window revalidates in line.
            }
            finally
            {
                _inFlight.TryRemove(new KeyValuePair<string, Task<CachedResponse?>>(refreshKey, done.Task));
                done.SetResult(null);
            }
        });
    }

    /// <summary>RFC 9111 section 4.3.4: a 304's headers replace the stored ones, except those describing the stored body.</summary>
    private CachedResponse Refresh(CachedResponse stale, IHeaderDictionary notModified, DateTimeOffset requestTime, CachePolicy policy, HttpRequest request)
    {
        var update = notModified.Where(h => !NotUpdatedBy304.Contains(h.Key)).ToDictionary(StringComparer.OrdinalIgnoreCase);
        var merged = new HeaderDictionary(stale.Headers.Where(h => !update.ContainsKey(h.Key)).Concat(update).ToDictionary(StringComparer.OrdinalIgnoreCase));
        return Build(stale.StatusCode, merged, requestTime, policy, request) with { Body = stale.Body };
    }

    /// <summary>The stored variant this request selects (Vary and key headers), if any it may be given.</summary>
    private static CachedResponse? Select(IReadOnlyList<CachedResponse> variants, HttpRequest request, bool authorized)
    {
        foreach (var variant in variants)
        {
            if (authorized && !HttpCacheRules.MayServeAuthorized(variant.Directives)) continue;
            var matches = true;
            foreach (var (name, value) in variant.Selectors)
            {
                if (!string.Equals(Normalize(request.Headers[name]), value, StringComparison.Ordinal)) { matches = false; break; }
            }
            if (matches) return variant;
        }
        return null;
    }

    /// <summary>Header values compared for Vary: lines joined, whitespace around commas dropped (RFC 9111 section 4.1).</summary>
    private static string Normalize(StringValues values) =>
        string.Join(',', values.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)));

    /// <summary>
    /// Forwards the request (conditionally when <paramref name="stale"/> has validators) and stores what comes back
    /// when it may; returns the entry stored (or, for a refreshed one, kept), null when none.
    /// </summary>
    /// <param name="bypass">Why the cache does not take part (store-unavailable, multiple-ranges): forwarded, never stored.</param>
    private async Task<CachedResponse?> ForwardAsync(HttpContext context, RouteCache cache, string key, CacheDirectives requestDirectives, bool authorized, CachedResponse? stale, RequestRecord? record, string? bypass = null)
    {
        var (policy, store) = (cache.Policy, cache.Store);
        var request = context.Request;
        var response = context.Response;
        var requestTime = time.GetUtcNow();
        var head = HttpMethods.IsHead(request.Method);

        // Revalidation: our validators replace the client's; its own conditionals are answered from the result.
        var conditional = false;
        StringValues clientIfNoneMatch = default, clientIfModifiedSince = default;
        if (stale is not null && (stale.ETag is not null || stale.LastModified is not null))
        {
            clientIfNoneMatch = request.Headers.IfNoneMatch;
            clientIfModifiedSince = request.Headers.IfModifiedSince;
            request.Headers.Remove(HeaderNames.IfNoneMatch);
            request.Headers.Remove(HeaderNames.IfModifiedSince);
            if (stale.ETag is { } etag) request.Headers.IfNoneMatch = etag;
            if (stale.LastModified is { } lastModified) request.Headers.IfModifiedSince = lastModified;
            conditional = true;
        }
        var forward = bypass is not null ? "bypass" : stale is null ? "uri-miss" : requestDirectives.NoCache ? "request" : "stale";
        string? whyNot = bypass;

        var original = context.Features.Get<IHttpResponseBodyFeature>()!;
        var tee = new ResponseTee(original, policy.MaxEntryBytes, () =>
        {
            var status = response.StatusCode;
            if (bypass is not null)
            {
                response.Headers[CacheStatusHeader] = Combine($"{Cache}; fwd=bypass; fwd-status={status}; detail={bypass}", response.Headers[CacheStatusHeader]);
                return TeeMode.Pass;
            }
            if (stale is not null && ((conditional && status == StatusCodes.Status304NotModified)
                || (HttpCacheRules.IsError(status) && HttpCacheRules.MayServeStaleOnError(requestDirectives, stale.Directives, stale.Lifetime, HttpCacheRules.CurrentAge(stale.InitialAge, stale.ResponseTime, time.GetUtcNow())))))
            {
                return TeeMode.Intercept;
            }
            var directives = CacheDirectives.Parse(response.Headers.CacheControl);
            whyNot = HttpCacheRules.WhyNotStorable(request.Method, requestDirectives, status, directives, response.Headers, authorized, policy.StoreSetCookie);
            if (whyNot is null && !head && response.ContentLength > policy.MaxEntryBytes) whyNot = "too-large";
            if (conditional && status == StatusCodes.Status304NotModified) whyNot = "client-conditional";
            // "stored" is a promise made before the body exists: only when its length is known and fits. A body of
            // unknown length is still stored when it ends within maxEntryBytes, without the claim.
            var claim = whyNot is null && (head || response.ContentLength is not null);
            response.Headers[CacheStatusHeader] = Combine($"{Cache}; fwd={forward}; fwd-status={status}" + (claim ? "; stored" : ""), response.Headers[CacheStatusHeader]);
            return whyNot is null ? TeeMode.PassAndCapture : TeeMode.Pass;
        });
        context.Features.Set<IHttpResponseBodyFeature>(tee);
        try
        {
            await next(context);
            tee.Decide();
            await tee.FlushWriterAsync();
        }
        finally
        {
            context.Features.Set(original);
            if (conditional)
            {
                request.Headers.IfNoneMatch = clientIfNoneMatch;
                request.Headers.IfModifiedSince = clientIfModifiedSince;
            }
        }

        if (tee.Mode == TeeMode.Intercept)
        {
            var upstreamStatus = response.StatusCode;
            context.Features.Set<IForwarderErrorFeature>(null);
            if (upstreamStatus == StatusCodes.Status304NotModified)
            {
                var refreshed = Refresh(stale!, response.Headers, requestTime, policy, request);
                await store.SetAsync(key, refreshed);
                Outcome(record, cache, "revalidated");
                ResetResponse(response);
                await ServeAsync(context, refreshed, $"{Cache}; fwd=stale; fwd-status=304", clientIfNoneMatch, clientIfModifiedSince);
                return refreshed;
            }
            Outcome(record, cache, "stale");
            ResetResponse(response);
            await ServeAsync(context, stale!, $"{Cache}; fwd=stale; fwd-status={upstreamStatus}; detail=stale-if-error", clientIfNoneMatch, clientIfModifiedSince);
            return null;
        }

        Outcome(record, cache, whyNot is null ? "miss" : "bypass");
        if (tee.Mode != TeeMode.PassAndCapture || tee.Captured is not { } body) return null;
        // A failed or cut-short response is never stored.
        if (context.Features.Get<IForwarderErrorFeature>() is not null || context.RequestAborted.IsCancellationRequested) return null;
        if (response.ContentLength is { } length && length != body.Length && !head) return null;
        var entry = Build(response.StatusCode, response.Headers, requestTime, policy, request) with { Body = body };
        await store.SetAsync(key, entry);
        return entry;
    }

    private static void ResetResponse(HttpResponse response)
    {
        response.Headers.Clear();
        response.StatusCode = StatusCodes.Status200OK;
    }

    private CachedResponse Build(int status, IHeaderDictionary merged, DateTimeOffset requestTime, CachePolicy policy, HttpRequest request)
    {
        var responseTime = time.GetUtcNow();
        var stored = merged.Where(h => !NotStored.Contains(h.Key)).ToArray();
        var directives = CacheDirectives.Parse(merged.CacheControl);
        var selectors = new List<(string, string)>();
        foreach (var line in merged.Vary)
        {
            foreach (var name in (line ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                selectors.Add((name.ToLowerInvariant(), Normalize(request.Headers[name])));
            }
        }
        foreach (var name in policy.KeyHeaders) selectors.Add((name.ToLowerInvariant(), Normalize(request.Headers[name])));
        var surrogateKeys = merged["Surrogate-Key"].Concat(merged["Cache-Tag"])
            .SelectMany(v => (v ?? "").Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
        return new CachedResponse
        {
            StatusCode = status,
            Headers = stored,
            Body = [],
            ResponseTime = responseTime,
            InitialAge = HttpCacheRules.InitialAge(merged, requestTime, responseTime),
            Lifetime = HttpCacheRules.FreshnessLifetime(status, directives, merged, responseTime, policy.DefaultTtl),
            Directives = directives,
            Selectors = [.. selectors.Distinct().Order()],
            SurrogateKeys = surrogateKeys,
            ETag = merged.ETag.Count > 0 ? merged.ETag.ToString() : null,
            LastModified = merged.LastModified.Count > 0 ? merged.LastModified.ToString() : null,
        };
    }

    private Task ServeAsync(HttpContext context, CachedResponse entry, string cacheStatus) =>
        ServeAsync(context, entry, cacheStatus, context.Request.Headers.IfNoneMatch, context.Request.Headers.IfModifiedSince);

    private Task ServeAsync(HttpContext context, CachedResponse entry, string cacheStatus, StringValues ifNoneMatch, StringValues ifModifiedSince)
    {
        var response = context.Response;
        response.StatusCode = entry.StatusCode;
        foreach (var (name, value) in entry.Headers) response.Headers[name] = value;
        var age = HttpCacheRules.CurrentAge(entry.InitialAge, entry.ResponseTime, time.GetUtcNow());
        response.Headers.Age = ((long)age.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        response.Headers[CacheStatusHeader] = cacheStatus;

        if (entry.StatusCode == StatusCodes.Status200OK && NotModified(entry, ifNoneMatch, ifModifiedSince))
        {
            // The client's own validators match what we hold (RFC 9110 section 13.1): 304 without a body.
            response.StatusCode = StatusCodes.Status304NotModified;
            response.Headers.ContentLength = null;
            response.Headers.Remove(HeaderNames.ContentType);
            return Task.CompletedTask;
        }
        // A stored GET's body length, also for a HEAD answered from it; a stored HEAD keeps the upstream's header.
        if (entry.Body.Length > 0) response.ContentLength = entry.Body.Length;
        if (HttpMethods.IsHead(context.Request.Method) || entry.Body.Length == 0 && context.Request.Headers.Range.Count == 0)
        {
            return Task.CompletedTask;
        }
        var range = ByteRanges.Select(context.Request, entry);
        if (range.Unsatisfiable)
        {
            response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
            response.Headers.ContentRange = $"bytes */{entry.Body.Length}";
            response.ContentLength = 0;
            return Task.CompletedTask;
        }
        if (range.Partial)
        {
            response.StatusCode = StatusCodes.Status206PartialContent;
            response.Headers.ContentRange = $"bytes {range.From}-{range.To}/{entry.Body.Length}";
            response.ContentLength = range.Length;
            return response.Body.WriteAsync(entry.Body.AsMemory((int)range.From, (int)range.Length), context.RequestAborted).AsTask();
        }
        if (entry.Body.Length == 0) return Task.CompletedTask;
        return response.Body.WriteAsync(entry.Body, context.RequestAborted).AsTask();
    }

    private static bool NotModified(CachedResponse entry, StringValues ifNoneMatch, StringValues ifModifiedSince)
    {
        if (ifNoneMatch.Count > 0)
        {
            if (entry.ETag is null) return false;
            var stored = entry.ETag.StartsWith("W/", StringComparison.Ordinal) ? entry.ETag[2..] : entry.ETag;
            foreach (var line in ifNoneMatch)
            {
                foreach (var tag in (line ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                {
                    // Weak comparison (RFC 9110 section 13.1.2).
                    if (tag == "*" || (tag.StartsWith("W/", StringComparison.Ordinal) ? tag[2..] : tag) == stored) return true;
                }
            }
            return false;
        }
        return ifModifiedSince.Count > 0 && entry.LastModified is not null
            && HttpCacheRules.ParseDate(ifModifiedSince) is { } since && HttpCacheRules.ParseDate(entry.LastModified) is { } modified && modified <= since;
    }

    private static string Combine(string ours, StringValues upstream) =>
        upstream.Count == 0 ? ours : ours + ", " + upstream.ToString();

    /// <summary>RFC 9111 section 4.4: a non-error answer to an unsafe method invalidates the target and its Location / Content-Location.</summary>
    private async Task ForwardAndInvalidateAsync(HttpContext context, RouteCache cache)
    {
        await next(context);
        var status = context.Response.StatusCode;
        if (status is < 200 or >= 400) return;
        var request = context.Request;
        await InvalidateAsync(cache, request.Scheme, request.Host.Value ?? "", request.PathBase + request.Path, request.QueryString.Value);
        foreach (var header in new[] { HeaderNames.Location, HeaderNames.ContentLocation })
        {
            var value = context.Response.Headers[header].ToString();
            if (value.Length == 0) continue;
            var baseUri = new Uri($"{request.Scheme}://{request.Host.Value}{request.PathBase}{request.Path}");
            // Only same-origin URIs (RFC 9111 section 4.4), so a response cannot purge other hosts' entries.
            if (!Uri.TryCreate(baseUri, value, out var target) || !string.Equals(target.Authority, baseUri.Authority, StringComparison.OrdinalIgnoreCase)) continue;
            await InvalidateAsync(cache, target.Scheme, request.Host.Value ?? "", target.AbsolutePath, target.Query);
        }
    }

    private static async Task InvalidateAsync(RouteCache cache, string scheme, string host, string path, string? query)
    {
        await cache.Store.RemoveAsync(CacheKey.For(HttpMethods.Get, scheme, host, path, query, cache.Policy));
        await cache.Store.RemoveAsync(CacheKey.For(HttpMethods.Head, scheme, host, path, query, cache.Policy));
    }
}
