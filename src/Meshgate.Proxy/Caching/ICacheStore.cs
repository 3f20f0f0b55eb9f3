namespace Meshgate.Proxy.Caching;

/// <summary>
/// Where a policy's entries live. A primary key (method and URL) holds one response per variant (Vary and key headers).
/// </summary>
internal interface ICacheStore
{
    /// <summary>Every stored variant of the key; empty when none. Marks the key as recently used.</summary>
    IReadOnlyList<CachedResponse> Get(string key);

    /// <summary>Stores a response, replacing the variant with the same selectors.</summary>
    void Set(string key, CachedResponse response);

    /// <summary>Removes the keys that match; returns how many entries (variants) went.</summary>
    int Remove(Func<string, IReadOnlyList<CachedResponse>, bool> match);

    bool Remove(string key);
}
