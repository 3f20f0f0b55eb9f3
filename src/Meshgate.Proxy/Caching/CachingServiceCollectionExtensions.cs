using Meshgate.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Meshgate.Proxy.Caching;

public static class CachingServiceCollectionExtensions
{
    /// <summary>The stores, the Redis store's health and the metrics; <c>TryAdd</c>, so a test can swap the clock.</summary>
    public static IServiceCollection AddMeshgateCaching(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<Redis.RedisConnection>();
        services.TryAddSingleton<CachingMetrics>();
        services.TryAddSingleton<Stores.Redis.RedisCacheHealth>();
        services.TryAddSingleton<CacheStores>();
        services.TryAddSingleton<ICacheState>(sp => sp.GetRequiredService<CacheStores>());
        return services;
    }

    /// <summary>Puts the route's cache on its endpoint; routes without one get nothing, so the step passes them straight on.</summary>
    internal static void ApplyToEndpoint(IEndpointConventionBuilder endpoint, RoutePolicy? policy, IServiceProvider services)
    {
        if (policy?.Cache is not { } cache) return;
        endpoint.WithMetadata(new RouteCache(policy.RouteId, cache, services.GetRequiredService<CacheStores>().Warm(cache)));
    }
}
