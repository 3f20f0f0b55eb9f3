using Meshgate.Configuration;
using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Meshgate.Proxy.RateLimiting;

public static class RateLimitingServiceCollectionExtensions
{
    /// <summary>The node's limiters, the clock and the metrics; <c>TryAdd</c>, so a test can swap the clock.</summary>
    public static IServiceCollection AddMeshgateRateLimiting(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RateLimiters>();
        services.TryAddSingleton<RateLimitingMetrics>();
        services.TryAddSingleton<RateLimitGate>();
        services.TryAddSingleton<Proxy.Redis.RedisConnection>();
        services.TryAddSingleton<Redis.RedisRateLimitStore>();
        services.TryAddSingleton<IRateLimitState, RateLimitState>();
        return services;
    }

    /// <summary>Puts the route's limit on its endpoint; routes without one get nothing, so the step passes them straight on.</summary>
    internal static void ApplyToEndpoint(IEndpointConventionBuilder endpoint, RoutePolicy? policy, IServiceProvider services, ConfigSnapshot snapshot)
    {
        if (policy?.RateLimit is not { } limit) return;
        var limiters = services.GetRequiredService<RateLimiters>();
        if (limit.Scope == Configuration.Model.RateLimitScope.Local)
        {
            endpoint.WithMetadata(new RouteRateLimit(policy.RouteId, limit, limiters.For(limit)));
            return;
        }
        // While Redis is away each node counts its share of the limit; the name keeps its state apart from a local policy's.
        services.GetRequiredService<Redis.RedisRateLimitStore>().Warm(snapshot.Definition.Stores.Redis!);
        var share = new RateLimitPolicy(limit.Name, limit.Algorithm, Math.Max(1, limit.Limit / limit.Nodes), limit.Window, limit.Burst / limit.Nodes, limit.Key, limit.Headers) { Period = limit.Period };
        // Quotas count every request in Redis: the admin API's count of a consumer's use must be exact.
        var leases = limit.Algorithm == Configuration.Model.RateLimitAlgorithm.Quota ? null : limiters.LeasesFor(limit);
        endpoint.WithMetadata(new RouteRateLimit(policy.RouteId, limit, limiters.For(share, "shared-fallback"), snapshot.Definition.Stores.Redis, leases));
    }
}
