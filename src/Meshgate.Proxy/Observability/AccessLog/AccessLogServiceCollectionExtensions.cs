using System.Diagnostics.Metrics;
using Meshgate.Proxy.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Meshgate.Proxy.Observability.AccessLog;

public static class AccessLogServiceCollectionExtensions
{
    /// <summary>
    /// The queue and the writer, always: a reload may turn the log on. Idle, they cost the request path
    /// nothing; the middleware checks the snapshot and passes requests on.
    /// </summary>
    public static IServiceCollection AddMeshgateAccessLog(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(AccessLogSampler.Shared);
        services.TryAddSingleton(sp => new AccessLogMetrics(sp.GetRequiredService<IMeterFactory>()));
        services.TryAddSingleton(sp => new AccessLogQueue(
            sp.GetRequiredService<SnapshotAccessor>().Current.AccessLog?.Queue ?? AccessLogQueue.DefaultCapacity,
            sp.GetRequiredService<AccessLogMetrics>()));
        services.AddHostedService<AccessLogWriter>();
        return services;
    }
}
