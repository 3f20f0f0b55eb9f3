namespace Meshgate.Proxy.Caching;

/// <summary>What the admin API may do to the response cache: remove entries. Each call returns how many went.</summary>
public interface ICachePurge
{
    /// <summary>Entries whose URL (scheme://host/path?query, as the key holds it) equals <paramref name="url"/>.</summary>
    int PurgeUrl(string url);

    /// <summary>Entries whose URL starts with <paramref name="prefix"/>.</summary>
    int PurgePrefix(string prefix);

    /// <summary>Entries whose response named the key in Surrogate-Key or Cache-Tag.</summary>
    int PurgeSurrogateKey(string surrogateKey);
}
