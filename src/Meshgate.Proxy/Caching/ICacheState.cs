namespace Meshgate.Proxy.Caching;

/// <summary>What the admin API may see and do of the response cache: the stores' state, and purges (each returns how many variants went).</summary>
public interface ICacheState
{
    /// <summary>Entries whose URL (scheme://host/path?query, as the key holds it) equals <paramref name="url"/>.</summary>
    /// <exception cref="CacheStoreUnavailableException">A shared store did not answer; memory stores were purged.</exception>
    Task<int> PurgeUrlAsync(string url);

    /// <summary>Entries whose URL starts with <paramref name="prefix"/>. For the Redis store the prefix names scheme and host in full.</summary>
    /// <exception cref="CacheStoreUnavailableException">A shared store did not answer; memory stores were purged.</exception>
    Task<int> PurgePrefixAsync(string prefix);

    /// <summary>Entries whose response named the key in Surrogate-Key or Cache-Tag.</summary>
    /// <exception cref="CacheStoreUnavailableException">A shared store did not answer; memory stores were purged.</exception>
    Task<int> PurgeSurrogateKeyAsync(string surrogateKey);

    /// <summary>The policies in use on this node and the shared store's health.</summary>
    CacheStateView View();
}

/// <param name="Redis">The shared store's health; null when no policy in use stores in Redis.</param>
/// <param name="Routes">Requests per cached route and result since this node started.</param>
public sealed record CacheStateView(IReadOnlyList<CachePolicyView> Policies, CacheStoreView? Redis, IReadOnlyList<CacheRouteView> Routes);

/// <summary>A cached route's GET and HEAD requests by result, as <c>Cache-Status</c> and the access log name them.</summary>
public sealed record CacheRouteView(string Route, long Hit, long Stale, long Revalidated, long Miss, long Bypass);

/// <param name="Entries">Keys held (memory store); null for Redis, whose size this node does not track.</param>
/// <param name="Bytes">Bytes held (memory store); null for Redis.</param>
public sealed record CachePolicyView(string Name, string Store, int? Entries, long? Bytes);

/// <param name="Failing">Whether the last operation failed or timed out (the cache forwards without storing meanwhile).</param>
/// <param name="Errors">Operations that failed or timed out since the process started.</param>
public sealed record CacheStoreView(string Connection, bool Failing, DateTimeOffset? FailingSince, long Errors, string? LastError);

/// <summary>A purge that a shared store did not carry out; the admin API answers 503 with the reason.</summary>
public sealed class CacheStoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
