using System.ComponentModel;

namespace Meshgate.Configuration.Model;

public enum CacheStoreKind { Memory, Redis }

public enum CacheQueryMode { Keep, Drop, Sort }

/// <summary>A named response-cache policy (RFC 9111 shared cache); routes refer to it with <c>cache: name</c>.</summary>
public sealed record CachePolicyDefinition
{
    [Description("Where entries live: memory (this process, bounded by maxBytes) or redis (stores.redis, shared by every gateway node; entries expire with their freshness). Default memory.")]
    public CacheStoreKind Store { get; init; } = CacheStoreKind.Memory;

    [Description("Largest response body stored, e.g. 1MiB. Larger responses stream through unbuffered and are not stored. Default 1MiB.")]
    public ByteSize MaxEntryBytes { get; init; } = new(1L << 20);

    [Description("store: memory only: bound on the stored bodies and headers of this policy, e.g. 64MiB; least recently used entries are evicted. Default 64MiB.")]
    public ByteSize MaxBytes { get; init; } = new(64L << 20);

    [Description("store: redis only: how long an entry stays in Redis past its freshness and its stale-while-revalidate / stale-if-error windows, so a stale entry can still be revalidated with its validators instead of fetched whole, e.g. 1m. Default 1m.")]
    public TimeSpan KeepStale { get; init; } = TimeSpan.FromMinutes(1);

    [Description("Freshness for responses that give none (no s-maxage, max-age or Expires) and whose status is cacheable by default, e.g. 30s. Absent: RFC 9111's heuristic (10% of the Last-Modified age, at most 1 day), else not fresh.")]
    public TimeSpan? DefaultTtl { get; init; }

    [Description("Store responses that carry Set-Cookie (the cookie is then served to every client). Default false.")]
    public bool StoreSetCookie { get; init; }

    [Description("How concurrent misses for one key wait for the first one's upstream response before forwarding themselves. Default 5s.")]
    public TimeSpan CoalesceTimeout { get; init; } = TimeSpan.FromSeconds(5);

    [Description("What the cache key holds besides method, scheme, host and path.")]
    public CacheKeyDefinition Key { get; init; } = new();
}

public sealed record CacheKeyDefinition
{
    [Description("The query string in the key: keep (as sent), sort (parameters sorted, so ?a=1&b=2 and ?b=2&a=1 share an entry) or drop (ignored). Default keep.")]
    public CacheQueryMode Query { get; init; } = CacheQueryMode.Keep;

    [Description("Query parameter names left out of the key (e.g. utm_source), with keep or sort. Case-sensitive.")]
    public List<string>? DropQuery { get; init; }

    [Description("Request headers whose values become part of the key (like a Vary the upstream did not send), e.g. [Accept-Language].")]
    public List<string>? Headers { get; init; }
}
