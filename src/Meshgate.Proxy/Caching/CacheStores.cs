using System.Collections.Concurrent;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Caching.Stores.Memory;

namespace Meshgate.Proxy.Caching;

/// <summary>
/// The stores by policy name. They outlive config reloads, so a reload keeps what is cached; a changed
/// maxBytes applies to the existing store at its next use.
/// </summary>
public sealed class CacheStores : ICachePurge
{
    private readonly ConcurrentDictionary<string, MemoryCacheStore> _stores = new(StringComparer.OrdinalIgnoreCase);

    internal MemoryCacheStore For(CachePolicy policy)
    {
        var store = _stores.GetOrAdd(policy.Name, static (_, p) => new MemoryCacheStore(p.MaxBytes), policy);
        if (store.MaxBytes != policy.MaxBytes) store.MaxBytes = policy.MaxBytes;
        return store;
    }

    internal IEnumerable<KeyValuePair<string, MemoryCacheStore>> All => _stores;

    /// <summary>Removes entries whose URL (scheme://host/path?query) equals <paramref name="url"/>; returns how many went.</summary>
    public int PurgeUrl(string url) => Purge((key, _) => CacheKey.UrlOf(key).Equals(url, StringComparison.Ordinal));

    /// <summary>Removes entries whose URL starts with <paramref name="prefix"/>.</summary>
    public int PurgePrefix(string prefix) => Purge((key, _) => CacheKey.UrlOf(key).StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>Removes entries whose response carried the surrogate key (Surrogate-Key or Cache-Tag).</summary>
    public int PurgeSurrogateKey(string surrogateKey) =>
        Purge((_, variants) => variants.Any(v => v.SurrogateKeys.Contains(surrogateKey, StringComparer.Ordinal)));

    private int Purge(Func<string, IReadOnlyList<CachedResponse>, bool> match) => _stores.Values.Sum(s => s.Remove(match));
}
