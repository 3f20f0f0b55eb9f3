using System.Diagnostics.Metrics;

namespace Meshgate.Proxy.Caching;

/// <summary>Every instrument the response cache emits. Labels are bounded: route, result, policy, operation.</summary>
internal sealed class CachingMetrics(IMeterFactory meters)
{
    private readonly Counter<long> _requests = meters.Create(Common.MeshgateMeter.Name).CreateCounter<long>("meshgate.cache.requests", "{request}",
        "GET and HEAD requests on cached routes, by route and result: hit, stale (served stale), revalidated (a 304 refreshed the entry), miss (forwarded, storable), bypass (forwarded, not storable or store unavailable).");

    private readonly Counter<long> _storeErrors = meters.Create(Common.MeshgateMeter.Name).CreateCounter<long>("meshgate.cache.store_errors", "{error}",
        "Cache store operations that failed or timed out (Redis), by policy and operation: get, set, delete, purge.");

    public void Request(string route, string result) => _requests.Add(1, new("route", route), new("result", result));

    public void StoreError(string policy, string operation) => _storeErrors.Add(1, new("policy", policy), new("operation", operation));
}
