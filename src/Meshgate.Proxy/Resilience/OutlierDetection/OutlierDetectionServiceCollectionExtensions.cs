using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Health;

namespace Meshgate.Proxy.Resilience.OutlierDetection;

public static class OutlierDetectionServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="OutlierDetector"/> as YARP's passive health policy and as a cluster change listener
    /// (for its per-cluster interval timers), reading each cluster's settings from the current snapshot.
    /// </summary>
    public static IReverseProxyBuilder AddMeshgateOutlierDetection(this IReverseProxyBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<OutlierDetectionMetrics>();
        services.TryAddSingleton(sp =>
        {
            var snapshots = sp.GetRequiredService<SnapshotAccessor>();
            return new OutlierDetector(
                sp.GetRequiredService<IDestinationHealthUpdater>(),
                clusterId => snapshots.Current.ClusterPolicies.TryGetValue(clusterId, out var policy) ? policy.OutlierDetection : null,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<OutlierDetectionMetrics>(),
                sp.GetRequiredService<ILogger<OutlierDetector>>());
        });
        services.TryAddSingleton<IOutlierDetectionState>(sp => sp.GetRequiredService<OutlierDetector>());
        services.TryAddEnumerable(
        [
            ServiceDescriptor.Singleton<IPassiveHealthCheckPolicy, OutlierDetector>(sp => sp.GetRequiredService<OutlierDetector>()),
            ServiceDescriptor.Singleton<Yarp.ReverseProxy.Model.IClusterChangeListener, OutlierDetector>(sp => sp.GetRequiredService<OutlierDetector>()),
        ]);
        return builder;
    }

    /// <summary>
    /// YARP's passive health step (outlier detection's input), skipped by requests whose cluster does not enable passive
    /// health: see <see cref="PassiveHealthStep"/>. In place of YARP's UsePassiveHealthChecks.
    /// </summary>
    public static IApplicationBuilder UseMeshgatePassiveHealth(this IApplicationBuilder proxy) =>
        proxy.UseMiddleware<PassiveHealthStep>();
}
