using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy.LoadBalancing;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>Registers Meshgate's load-balancing policies with YARP.</summary>
public static class LoadBalancingServiceCollectionExtensions
{
    /// <summary>
    /// Adds the policies named in <see cref="Meshgate.Configuration.Compilation.PolicyNames"/> (round-robin,
    /// least-requests, power-of-two-choices, random, consistent-hash) as singletons. Uses <c>TryAdd</c> so a
    /// test can register its own random source or policy first.
    /// </summary>
    public static IReverseProxyBuilder AddMeshgateLoadBalancing(this IReverseProxyBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.TryAddSingleton<IRandomSource, SharedRandomSource>();
        services.TryAddEnumerable(
        [
            ServiceDescriptor.Singleton<ILoadBalancingPolicy, RoundRobinLoadBalancingPolicy>(),
            ServiceDescriptor.Singleton<ILoadBalancingPolicy, LeastRequestsLoadBalancingPolicy>(),
            ServiceDescriptor.Singleton<ILoadBalancingPolicy, PowerOfTwoChoicesLoadBalancingPolicy>(),
            ServiceDescriptor.Singleton<ILoadBalancingPolicy, RandomLoadBalancingPolicy>(),
            ServiceDescriptor.Singleton<ILoadBalancingPolicy, ConsistentHashLoadBalancingPolicy>(),
        ]);
        return builder;
    }
}
