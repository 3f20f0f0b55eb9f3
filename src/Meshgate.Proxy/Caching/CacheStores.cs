using System.Collections.Concurrent;
using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Caching.Stores.Memory;
using Meshgate.Proxy.Caching.Stores.Redis;
using Meshgate.Proxy.Redis;

namespace Meshgate.Proxy.Caching;

/// <summary>
/// The stores by policy name, memory or Redis as the policy says. They outlive config reloads, so a reload keeps
/// what is cached; a changed maxBytes, Redis server or timeout applies to the existing store at its next use.
/// Every policy a route uses has its store from the moment the route's endpoint is built, so a purge on any node
/// reaches the shared entries of every Redis policy in its config.
/// </summary>
internal sealed class CacheStores(RedisConnection redis, RedisCacheHealth health, TimeProvider time, CachingMetrics metrics) : ICacheState
{
    private readonly ConcurrentDictionary<string, ICacheStore> _stores = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The policy's store; called when a route's endpoint is built, never per request.</summary>
    internal ICacheStore For(CachePolicy policy)
    {
        var key = (policy.Store == CacheStoreKind.Redis ? "redis|" : "memory|") + policy.Name;
        var store = _stores.GetOrAdd(key, _ => Create(policy));
        switch (store)
        {
            case MemoryCacheStore memory when memory.MaxBytes != policy.MaxBytes:
                memory.MaxBytes = policy.MaxBytes;
                break;
            case RedisCacheStore shared when shared.Redis != policy.Redis || shared.KeepStale != policy.KeepStale:
                shared.Redis = policy.Redis!;
                shared.KeepStale = policy.KeepStale;
                break;
        }
        return store;
    }

    /// <summary>The policy's store, connecting to Redis before the first request needs it.</summary>
    internal ICacheStore Warm(CachePolicy policy)
    {
        if (policy.Redis is { } shared) redis.For(shared.Connection!);
        return For(policy);
    }

    internal IEnumerable<KeyValuePair<string, ICacheStore>> All => _stores;

    public Task<int> PurgeUrlAsync(string url) => PurgeAsync(s => s.PurgeUrlAsync(url));

    public Task<int> PurgePrefixAsync(string prefix) => PurgeAsync(s => s.PurgePrefixAsync(prefix));

    public Task<int> PurgeSurrogateKeyAsync(string surrogateKey) => PurgeAsync(s => s.PurgeSurrogateKeyAsync(surrogateKey));

    public CacheStateView View()
    {
        var policies = _stores.Values.Select(s => s switch
        {
            MemoryCacheStore memory => new CachePolicyView(memory.Name, "memory", memory.Count, memory.Bytes),
            RedisCacheStore shared => new CachePolicyView(shared.Name, "redis", null, null),
            _ => throw new InvalidOperationException("unknown store"),
        }).OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Store, StringComparer.Ordinal).ToList();
        var connection = _stores.Values.OfType<RedisCacheStore>().Select(s => s.Redis.Connection).FirstOrDefault();
        return new(policies, connection is null ? null : new CacheStoreView(connection, health.Failing, health.FailingSince, health.Errors, health.LastError), metrics.RouteCounts());
    }

    /// <summary>Purges every store; a Redis store that fails does not keep the others from being purged.</summary>
    private async Task<int> PurgeAsync(Func<ICacheStore, ValueTask<int>> purge)
    {
        var purged = 0;
        CacheStoreUnavailableException? failure = null;
        foreach (var store in _stores.Values)
        {
            try
            {
                purged += await purge(store);
            }
            catch (CacheStoreUnavailableException e)
            {
                failure = e;
            }
        }
        if (failure is not null) throw failure;
        return purged;
    }

    private ICacheStore Create(CachePolicy policy) => policy.Store == CacheStoreKind.Redis
        ? new RedisCacheStore(policy.Name, redis, health, time) { Redis = policy.Redis!, KeepStale = policy.KeepStale }
        : new MemoryCacheStore(policy.Name, policy.MaxBytes);
}
