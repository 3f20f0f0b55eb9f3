using System.Diagnostics.Metrics;

namespace Meshgate.Proxy.Caching;

/// <summary>
/// Every instrument the response cache emits (labels are bounded: route, result, policy, operation), and the
/// same request counts per route kept in process for GET /admin/cache and the dashboard.
/// </summary>
internal sealed class CachingMetrics(IMeterFactory meters)
{
    /// <summary>The results a cached route's request can have, in the order <see cref="RouteCounts"/> keeps them.</summary>
    public static readonly string[] Results = ["hit", "stale", "revalidated", "miss", "bypass"];

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long[]> _byRoute = new(StringComparer.OrdinalIgnoreCase);

    private readonly Counter<long> _requests = meters.Create(Common.MeshgateMeter.Name).CreateCounter<long>("meshgate.cache.requests", "{request}",
        "GET and HEAD requests on cached routes, by route and result: hit, stale (served stale), revalidated (a 304 refreshed the entry), miss (forwarded, storable), bypass (forwarded, not storable or store unavailable).");

    private readonly Counter<long> _storeErrors = meters.Create(Common.MeshgateMeter.Name).CreateCounter<long>("meshgate.cache.store_errors", "{error}",
        "Cache store operations that failed or timed out (Redis), by policy and operation: get, set, delete, purge.");

    public void Request(string route, string result)
    {
        _requests.Add(1, new("route", route), new("result", result));
        var index = Array.IndexOf(Results, result);
        if (index >= 0) Interlocked.Increment(ref _byRoute.GetOrAdd(route, static _ => new long[Results.Length])[index]);
    }

    /// <summary>Requests per cached route and result since start (routes that saw none are absent).</summary>
    public IReadOnlyList<CacheRouteView> RouteCounts() =>
        _byRoute.OrderBy(r => r.Key, StringComparer.Ordinal)
            .Select(r => new CacheRouteView(r.Key, Volatile.Read(ref r.Value[0]), Volatile.Read(ref r.Value[1]), Volatile.Read(ref r.Value[2]), Volatile.Read(ref r.Value[3]), Volatile.Read(ref r.Value[4])))
            .ToList();

    public void StoreError(string policy, string operation) => _storeErrors.Add(1, new("policy", policy), new("operation", operation));
}
