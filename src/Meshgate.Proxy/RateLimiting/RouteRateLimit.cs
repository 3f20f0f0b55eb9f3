using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.RateLimiting.Local;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>Endpoint metadata: the route's policy and what counts for it, found once when the endpoint is built.</summary>
/// <param name="Limiter">Local policies: the node's limiter. Shared ones with onStoreFailure: local: the fallback at limit / nodes.</param>
/// <param name="Store">Shared policies: the Redis store they count in; null for local ones.</param>
/// <param name="Leases">Shared policies except quotas: this node's leases of permits from Redis.</param>
internal sealed record RouteRateLimit(string RouteId, RateLimitPolicy Policy, LocalRateLimiter Limiter, RedisStoreDefinition? Store = null, Redis.RedisLeases? Leases = null)
{
    /// <summary>The key of a policy keyed by route: made once, not per request.</summary>
    public string RouteKey { get; } = "route:" + RouteId;
}
