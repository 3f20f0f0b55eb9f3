using Meshgate.Proxy.Cors;
using Meshgate.Configuration;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.FaultInjection;
using Meshgate.Proxy.Mirroring;
using Meshgate.Proxy.Health;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Observability.AccessLog;
using Meshgate.Proxy.Observability.Metrics;
using Meshgate.Proxy.Resilience.CircuitBreaking;
using Meshgate.Proxy.Resilience.OutlierDetection;
using Meshgate.Proxy.Routing;
using Meshgate.Proxy.Transforms;
using Meshgate.Proxy.Upstream;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Meshgate.Proxy.Pipeline;

public static class ProxyServiceCollectionExtensions
{
    /// <summary>Registers YARP with Meshgate's config provider, policies and transforms.</summary>
    /// <param name="reload">Reads the config source again, for <see cref="ConfigReloader"/>.</param>
    public static IServiceCollection AddMeshgateProxy(this IServiceCollection services, SnapshotAccessor snapshots, Func<ConfigLoader.Result> reload)
    {
        services.AddSingleton(snapshots);
        services.AddSingleton<IProxyConfigProvider>(snapshots);
        services.AddSingleton(sp => new ConfigReloader(snapshots, reload, sp.GetRequiredService<ILogger<ConfigReloader>>(), sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<RouteExplainer>();
        services.AddSingleton<RouteExplainer.PipelineEntry>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, HeaderRegexMatcherPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, ListenerMatcherPolicy>());
        services.AddReverseProxy()
            .AddTransforms<MeshgateTransformProvider>()
            .AddMeshgateLoadBalancing()
            .AddMeshgateHealth()
            .AddMeshgateOutlierDetection();
        // YARP's session affinity (never configured by Meshgate) needs Data Protection, not its key ring at start.
        Hosting.DataProtectionPreload.RemoveDataProtectionPreload(services);
        services.AddMeshgateCircuitBreaking();
        // The clusters' TLS settings, one place for both forwarders (YARP's client and the direct path).
        services.TryAddSingleton<UpstreamTlsPolicies>();
        services.AddSingleton<IForwarderHttpClientFactory, UpstreamHttpClientFactory>();
        // The direct HTTP/1.1 upstream path's keep-alive connections (see Upstream/Http1).
        services.TryAddSingleton<Upstream.Http1.Http1ConnectionPool>();
        services.TryAddSingleton<FrontEnd.DirectFrontEnd>();
        services.AddMeshgateCors();
        services.AddMeshgateAuthentication();
        services.AddMeshgateAccessLog();
        services.AddMeshgateMetrics(snapshots.Current.Definition.Metrics);
        Observability.Tracing.TracingServiceCollectionExtensions.AddMeshgateTracing(services, snapshots);
        services.AddMeshgateFaultInjection();
        Mesh.Discovery.MeshDiscoveryServiceCollectionExtensions.AddMeshgateMeshDiscovery(services, snapshots);
        Caching.CachingServiceCollectionExtensions.AddMeshgateCaching(services);
        services.AddMeshgateMirroring();
        Resilience.ResilienceServiceCollectionExtensions.AddMeshgateResilience(services);
        RateLimiting.RateLimitingServiceCollectionExtensions.AddMeshgateRateLimiting(services);
        return services;
    }
}
