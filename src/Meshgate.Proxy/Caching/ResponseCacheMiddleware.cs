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
/// Routes without a cache policy get <c>next</c>'s own task: no allocation, no extra async frame.
/// </summary>
internal sealed class ResponseCacheMiddleware(RequestDelegate next, CacheStores stores, TimeProvider time, IServiceProvider services)
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

    private readonly ConcurrentDictionary<string, Task> _inFlight = new(StringComparer.Ordinal);

    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<CachePolicy>() is not { } policy) return next(context);
        var method = context.Request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method)) return LookupAsync(context, policy);
        return IsUnsafe(method) ? ForwardAndInvalidateAsync(context, policy) : next(context);
    }

    private static bool IsUnsafe(string method) => !(HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method) || HttpMethods.IsConnect(method));

    private async Task LookupAsync(HttpContext context, CachePolicy policy)
    {
        var request = context.Request;
        var record = context.Features.Get<RequestRecord>();
        var store = stores.For(policy);
        var key = CacheKey.For(request, policy);
        var directives = CacheDirectives.Parse(request.Headers.CacheControl, request.Headers.Pragma);
        var authorized = request.Headers.ContainsKey(HeaderNames.Authorization);

        var entry = Select(store.Get(key), request, authorized);
        if (entry is null && !authorized && !directives.NoCache && !directives.NoStore && !directives.OnlyIfCached)
        {
            // Coalescing: the first miss for a key forwards; the others wait for it (bounded), then look again.
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var leader = _inFlight.GetOrAdd(key, done.Task);
            if (leader == done.Task)
            {
                try
                {
                    await ForwardAsync(context, policy, store, key, directives, authorized, stale: null, record);
                }
                finally
                {
                    _inFlight.TryRemove(new KeyValuePair<string, Task>(key, done.Task));
                    done.SetResult();
                }
                return;
            }
            try
            {
                await leader.WaitAsync(policy.CoalesceTimeout, time, context.RequestAborted);
            }
            catch (TimeoutException)
            {
                // The first request is slow: go on alone rather than wait longer.
            }
            entry = Select(store.Get(key), request, authorized);
            if (entry is not null && Judge(entry, directives) is Freshness.Fresh or Freshness.StaleAllowed)
            {
                record?.CacheStatus = "hit";
                await ServeAsync(context, entry, $"{Cache}; hit; collapsed");
                return;
            }
        }

        if (entry is not null)
        {
            var freshness = Judge(entry, directives);
            if (freshness is Freshness.Fresh or Freshness.StaleAllowed)
            {
                record?.CacheStatus = freshness == Freshness.Fresh ? "hit" : "stale";
                await ServeAsync(context, entry, freshness == Freshness.Fresh ? $"{Cache}; hit" : $"{Cache}; hit; detail=max-stale");
                return;
            }
            if (freshness == Freshness.StaleWhileRevalidate)
            {
                // RFC 5861 section 3: the client gets the stale entry now; one background request refreshes it.
                record?.CacheStatus = "stale";
                RefreshInBackground(context, policy, store, key, entry);
                await ServeAsync(context, entry, $"{Cache}; hit; detail=stale-while-revalidate");
                return;
            }
        }
        if (directives.OnlyIfCached)
        {
            // RFC 9111 section 5.2.1.7: nothing usable stored, and the client forbids forwarding.
            record?.CacheStatus = "miss";
            context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
            context.Response.Headers[CacheStatusHeader] = $"{Cache}; fwd=miss; detail=only-if-cached";
            return;
        }
        await ForwardAsync(context, policy, store, key, directives, authorized, entry, record);
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
        var done = new TaskCompletionSource();
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
            if (!string.Equals(name, HeaderNames.IfNoneMatch, StringComparison.OrdinalIgnoreCase) && !string.Equals(name, HeaderNames.IfModifiedSince, StringComparison.OrdinalIgnoreCase)) copy.Request.Headers[name] = value;
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
                    store.Set(key, Refresh(entry, response.Headers, requestTime, policy, copy.Request));
                }
                else if (body.Length <= policy.MaxEntryBytes && HttpCacheRules.WhyNotStorable(copy.Request.Method, default, response.StatusCode,
                    CacheDirectives.Parse(response.Headers.CacheControl), response.Headers, copy.Request.Headers.ContainsKey(HeaderNames.Authorization), policy.StoreSetCookie) is null)
                {
                    store.Set(key, Build(response.StatusCode, response.Headers, requestTime, policy, copy.Request) with { Body = body.ToArray() });
                }
            }
            catch (Exception)
            {
                // A failed refresh leaves the stale entry; the next request past its window revalidates in line.
            }
            finally
            {
                _inFlight.TryRemove(new KeyValuePair<string, Task>(refreshKey, done.Task));
                done.SetResult();
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

    private async Task ForwardAsync(HttpContext context, CachePolicy policy, ICacheStore store, string key, CacheDirectives requestDirectives, bool authorized, CachedResponse? stale, RequestRecord? record)
    {
        var request = context.Request;
        var response = context.Response;
        var requestTime = time.GetUtcNow();

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
        var forward = stale is null ? "uri-miss" : requestDirectives.NoCache ? "request" : "stale";
        string? whyNot = null;

        var original = context.Features.Get<IHttpResponseBodyFeature>()!;
        var tee = new ResponseTee(original, policy.MaxEntryBytes, () =>
        {
            var status = response.StatusCode;
            if (stale is not null && ((conditional && status == StatusCodes.Status304NotModified)
                || (HttpCacheRules.IsError(status) && HttpCacheRules.MayServeStaleOnError(requestDirectives, stale.Directives, stale.Lifetime, HttpCacheRules.CurrentAge(stale.InitialAge, stale.ResponseTime, time.GetUtcNow())))))
            {
                return TeeMode.Intercept;
            }
            var directives = CacheDirectives.Parse(response.Headers.CacheControl);
            whyNot = HttpCacheRules.WhyNotStorable(request.Method, requestDirectives, status, directives, response.Headers, authorized, policy.StoreSetCookie);
            if (whyNot is null && response.ContentLength > policy.MaxEntryBytes) whyNot = "too-large";
            if (conditional && status == StatusCodes.Status304NotModified) whyNot = "client-conditional";
            response.Headers[CacheStatusHeader] = Combine($"{Cache}; fwd={forward}; fwd-status={status}" + (whyNot is null ? "; stored" : ""), response.Headers[CacheStatusHeader]);
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
                store.Set(key, refreshed);
                record?.CacheStatus = "revalidated";
                ResetResponse(response);
                await ServeAsync(context, refreshed, $"{Cache}; fwd=stale; fwd-status=304", clientIfNoneMatch, clientIfModifiedSince);
            }
            else
            {
                record?.CacheStatus = "stale";
                ResetResponse(response);
                await ServeAsync(context, stale!, $"{Cache}; fwd=stale; fwd-status={upstreamStatus}; detail=stale-if-error", clientIfNoneMatch, clientIfModifiedSince);
            }
            return;
        }

        record?.CacheStatus = whyNot is null ? "miss" : "bypass";
        if (tee.Mode != TeeMode.PassAndCapture || tee.Captured is not { } body) return;
        // A failed or cut-short response is never stored.
        if (context.Features.Get<IForwarderErrorFeature>() is not null || context.RequestAborted.IsCancellationRequested) return;
        if (response.ContentLength is { } length && length != body.Length && !HttpMethods.IsHead(request.Method)) return;
        store.Set(key, Build(response.StatusCode, response.Headers, requestTime, policy, request) with { Body = body });
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
        if (HttpMethods.IsHead(context.Request.Method) || entry.Body.Length == 0)
        {
            return Task.CompletedTask;
        }
        response.ContentLength = entry.Body.Length;
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
    private async Task ForwardAndInvalidateAsync(HttpContext context, CachePolicy policy)
    {
        await next(context);
        var status = context.Response.StatusCode;
        if (status is < 200 or >= 400) return;
        var request = context.Request;
        var store = stores.For(policy);
        Invalidate(store, policy, request.Scheme, request.Host.Value ?? "", request.PathBase + request.Path, request.QueryString.Value);
        foreach (var header in new[] { HeaderNames.Location, HeaderNames.ContentLocation })
        {
            var value = context.Response.Headers[header].ToString();
            if (value.Length == 0) continue;
            var baseUri = new Uri($"{request.Scheme}://{request.Host.Value}{request.PathBase}{request.Path}");
            // Only same-origin URIs (RFC 9111 section 4.4), so a response cannot purge other hosts' entries.
            if (!Uri.TryCreate(baseUri, value, out var target) || !string.Equals(target.Authority, baseUri.Authority, StringComparison.OrdinalIgnoreCase)) continue;
            Invalidate(store, policy, target.Scheme, request.Host.Value ?? "", target.AbsolutePath, target.Query);
        }
    }

    private static void Invalidate(ICacheStore store, CachePolicy policy, string scheme, string host, string path, string? query)
    {
        store.Remove(CacheKey.For(HttpMethods.Get, scheme, host, path, query, policy));
        store.Remove(CacheKey.For(HttpMethods.Head, scheme, host, path, query, policy));
    }
}
