using Meshgate.Configuration;
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
        return services;
    }

    /// <summary>Puts the route's limit on its endpoint; routes without one get nothing, so the step passes them straight on.</summary>
    internal static void ApplyToEndpoint(IEndpointConventionBuilder endpoint, RoutePolicy? policy, IServiceProvider services)
    {
        if (policy?.RateLimit is not { } limit) return;
        endpoint.WithMetadata(new RouteRateLimit(policy.RouteId, limit, services.GetRequiredService<RateLimiters>().For(limit)));
    }
}
