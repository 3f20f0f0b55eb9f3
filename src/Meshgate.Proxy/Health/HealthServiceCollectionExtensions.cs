using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy.Health;

namespace Meshgate.Proxy.Health;

/// <summary>Registers Meshgate's health policies with YARP.</summary>
public static class HealthServiceCollectionExtensions
{
    /// <summary>
    /// Adds the active policy <see cref="Meshgate.Configuration.Compilation.PolicyNames.ActiveHealth"/> as a singleton;
    /// a cluster selects it through <c>HealthCheck.Active.Policy</c> with <c>Enabled = true</c>. Passive health is
    /// outlier detection (Resilience/OutlierDetection).
    /// </summary>
    public static IReverseProxyBuilder AddMeshgateHealth(this IReverseProxyBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IActiveHealthCheckPolicy, ThresholdActiveHealthPolicy>());
        return builder;
    }
}
