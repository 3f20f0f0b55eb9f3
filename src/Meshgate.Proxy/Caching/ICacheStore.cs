namespace Meshgate.Proxy.Caching;

/// <summary>
/// Where a policy's entries live. A primary key (method and URL) holds one response per variant (Vary and key headers).
/// Every call answers even when the store cannot: a read says so with null, a write with false, so a dead store
/// never fails a request. The memory store completes synchronously (no allocation on a hit); Redis takes a round trip.
/// </summary>
internal interface ICacheStore
{
    /// <summary>Every stored variant of the key (empty when none), or null when the store did not answer.</summary>
    ValueTask<IReadOnlyList<CachedResponse>?> GetAsync(string key);

    /// <summary>Stores a response, replacing the variant with the same selectors; false when the store did not take it.</summary>
    ValueTask<bool> SetAsync(string key, CachedResponse response);

    /// <summary>Removes every variant of the key (invalidation by an unsafe method).</summary>
    ValueTask RemoveAsync(string key);

    /// <summary>Removes the entries whose URL (as the key holds it) equals <paramref name="url"/>; how many variants went.</summary>
    ValueTask<int> PurgeUrlAsync(string url);

    /// <summary>Removes the entries whose URL starts with <paramref name="prefix"/>.</summary>
    ValueTask<int> PurgePrefixAsync(string prefix);

    /// <summary>Removes the entries whose response named <paramref name="surrogateKey"/> in Surrogate-Key or Cache-Tag.</summary>
    ValueTask<int> PurgeSurrogateKeyAsync(string surrogateKey);
}
