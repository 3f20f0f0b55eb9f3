using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Meshgate.Proxy.Observability.LiveStatistics;

public static class RouteStatisticsServiceCollectionExtensions
{
    /// <summary>The per-route live figures the admin API serves; listening starts when the gateway host resolves it.</summary>
    public static IServiceCollection AddMeshgateRouteStatistics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RouteStatistics>();
        return services;
    }
}
