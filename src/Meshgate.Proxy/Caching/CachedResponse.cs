using Meshgate.Proxy.Caching.Rfc9111;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Caching;

/// <summary>One stored response: what the upstream sent, and what RFC 9111 needs to judge it later. Immutable; a 304 replaces it.</summary>
internal sealed record CachedResponse
{
    public required int StatusCode { get; init; }

    /// <summary>End-to-end response headers as received, without Age (recomputed) and hop-by-hop fields.</summary>
    public required KeyValuePair<string, StringValues>[] Headers { get; init; }
    public required byte[] Body { get; init; }
    public required DateTimeOffset ResponseTime { get; init; }

    /// <summary>corrected_initial_age (RFC 9111 section 4.2.3).</summary>
    public required TimeSpan InitialAge { get; init; }
    public required TimeSpan Lifetime { get; init; }
    public required CacheDirectives Directives { get; init; }

    /// <summary>The request header values this response was selected by: the names in its Vary and the policy's key headers.</summary>
    public required (string Name, string Value)[] Selectors { get; init; }

    /// <summary>Surrogate keys (Surrogate-Key or Cache-Tag), for purges.</summary>
    public required string[] SurrogateKeys { get; init; }
    public string? ETag { get; init; }
    public string? LastModified { get; init; }

    /// <summary>Bytes the entry takes, approximately: body plus header text; what the memory bound counts.</summary>
    public long Size => Body.Length + Headers.Sum(h => h.Key.Length + h.Value.ToString().Length + 4) + 256;

    public bool SameSelectors(CachedResponse other) => Selectors.AsSpan().SequenceEqual(other.Selectors);
}
