using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy.Health;

namespace Meshgate.Proxy.Health;

/// <summary>Registers Meshgate's health policies with YARP.</summary>
public static class HealthServiceCollectionExtensions
{
    /// <summary>
    /// Adds the active policy <see cref="Meshgate.Configuration.Compilation.PolicyNames.ActiveHealth"/> and the
    /// passive policy <see cref="Meshgate.Configuration.Compilation.PolicyNames.PassiveHealth"/> as singletons.
    /// A cluster selects them through <c>HealthCheck.Active.Policy</c> / <c>HealthCheck.Passive.Policy</c>,
    /// with <c>Enabled = true</c>.
    /// </summary>
    public static IReverseProxyBuilder AddMeshgateHealth(this IReverseProxyBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(
        [
            ServiceDescriptor.Singleton<IActiveHealthCheckPolicy, ThresholdActiveHealthPolicy>(),
            ServiceDescriptor.Singleton<IPassiveHealthCheckPolicy, ConsecutiveFailuresPassiveHealthPolicy>(),
        ]);
        return builder;
    }
}
