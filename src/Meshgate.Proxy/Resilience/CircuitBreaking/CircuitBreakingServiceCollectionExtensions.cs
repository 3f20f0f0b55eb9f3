using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Meshgate.Proxy.Resilience.CircuitBreaking;

public static class CircuitBreakingServiceCollectionExtensions
{
    public static IServiceCollection AddMeshgateCircuitBreaking(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<CircuitBreakingMetrics>();
        services.TryAddSingleton<CircuitBreakers>();
        services.TryAddSingleton<ICircuitBreakerState>(sp => sp.GetRequiredService<CircuitBreakers>());
        return services;
    }

    /// <summary>The cluster-wide limit: before session affinity and load balancing, inside retries.</summary>
    public static IApplicationBuilder UseConcurrentRequestsLimit(this IApplicationBuilder proxy) =>
        proxy.UseMiddleware<ConcurrentRequestsLimitMiddleware>();

    /// <summary>The per-endpoint limit: after load balancing has chosen the endpoint, before passive health sees the attempt.</summary>
    public static IApplicationBuilder UsePendingRequestsLimit(this IApplicationBuilder proxy) =>
        proxy.UseMiddleware<PendingRequestsLimitMiddleware>();
}
