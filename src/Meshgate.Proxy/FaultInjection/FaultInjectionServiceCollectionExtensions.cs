using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Meshgate.Proxy.FaultInjection;

public static class FaultInjectionServiceCollectionExtensions
{
    /// <summary>The clock delays wait on and the metrics; <c>TryAdd</c>, so a test can swap the clock.</summary>
    public static IServiceCollection AddMeshgateFaultInjection(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<FaultInjectionMetrics>();
        return services;
    }
}
