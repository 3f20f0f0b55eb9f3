using System.ComponentModel;

namespace Meshgate.Configuration.Model;

public enum RateLimitAlgorithm { TokenBucket, SlidingWindow, FixedWindow, Concurrency, Quota }

/// <summary>A quota's calendar period, in UTC.</summary>
public enum QuotaPeriod { Day, Month }

public enum RateLimitScope { Local, Shared }

public enum StoreFailureMode { Allow, Deny, Local }

/// <summary>A named rate-limit policy; routes refer to it with <c>rateLimit: name</c>.</summary>
public sealed record RateLimitPolicyDefinition
{
    [Description("token-bucket (limit per window, refilled continuously, plus burst), sliding-window, fixed-window, concurrency (requests in flight at once), or quota (limit per calendar day or month in UTC, see period).")]
    [Required]
    public RateLimitAlgorithm? Algorithm { get; init; }

    [Description("Requests allowed per window (concurrency: requests in flight at once; quota: per period). At least 1.")]
    [Required]
    public int? Limit { get; init; }

    [Description("The window the limit counts over, e.g. 1s, 1m. Required except for concurrency and quota.")]
    public TimeSpan? Window { get; init; }

    [Description("quota only (and required there): day or month, calendar periods in UTC; the count starts from zero at 00:00 UTC each day or on the 1st of each month.")]
    public QuotaPeriod? Period { get; init; }

    [Description("token-bucket only: extra requests a quiet key may send at once above the limit (bucket size = limit + burst). Default 0.")]
    public int? Burst { get; init; }

    [Description("What a limit is counted per: client-ip, consumer (anonymous requests: their client IP), claim:NAME, header:NAME, route; or a list of them, combined. Default client-ip.")]
    [ScalarOrList]
    public List<string>? Key { get; init; }

    [Description("local (each node counts on its own) or shared (all nodes count together in stores.redis). Default local.")]
    public RateLimitScope Scope { get; init; } = RateLimitScope.Local;

    [Description("shared only: what to do when Redis fails or is slower than stores.redis.timeout: allow, deny, or local (count on this node at limit / nodes). Default allow.")]
    public StoreFailureMode OnStoreFailure { get; init; } = StoreFailureMode.Allow;

    [Description("With onStoreFailure: local, how many gateway nodes share the limit; each counts limit / nodes on its own while Redis is away. Default 1.")]
    public int? Nodes { get; init; }

    [Description("Send the RateLimit-Policy and RateLimit headers on allowed responses too (rejections always carry them). Default false.")]
    public bool Headers { get; init; }
}

/// <summary>Shared stores that policies with a shared scope use.</summary>
public sealed record StoresDefinition
{
    [Description("The Redis server that shared rate limits count in and caches with store: redis keep their entries in.")]
    public RedisStoreDefinition? Redis { get; init; }
}

public sealed record RedisStoreDefinition
{
    [Description("host:port of the Redis server, e.g. 127.0.0.1:6379.")]
    [Required]
    public string? Connection { get; init; }

    [Description("How long a rate-limit decision or a cache read or write may wait for Redis: past it a rate limit applies onStoreFailure and the cache forwards without storing. Default 50ms.")]
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMilliseconds(50);
}
