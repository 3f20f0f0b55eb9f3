using Meshgate.Configuration;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace Meshgate.Proxy.Mesh.Discovery;

public static class MeshDiscoveryServiceCollectionExtensions
{
    /// <summary>
    /// The mesh directory, when the config has a mesh section: mesh clusters take their destinations from it. What
    /// fills it (the control-plane watch) is registered by the process role (Meshgate.Mesh's AddMeshWatch).
    /// </summary>
    public static IServiceCollection AddMeshgateMeshDiscovery(this IServiceCollection services, SnapshotAccessor snapshots)
    {
        if (snapshots.Current.Definition.Mesh is null) return services;
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IRandomSource, SharedRandomSource>();
        services.TryAddSingleton(sp =>
        {
            var directory = new MeshDirectory(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IRandomSource>(), sp.GetRequiredService<ILogger<MeshDirectory>>());
            snapshots.UseMeshDestinations(directory);
            return directory;
        });
        return services;
    }

    /// <summary>Whether the process discovers mesh instances (its config has a mesh section); the pipeline adds its step only then.</summary>
    internal static bool IsOn(SnapshotAccessor snapshots) => snapshots.Current.Definition.Mesh is not null;

    /// <summary>A route to a mesh cluster without a resilience policy of its own gets the mesh's policy for the service.</summary>
    internal static void ApplyToEndpoint(IEndpointConventionBuilder endpoint, RouteConfig route, RoutePolicy? policy, IServiceProvider services, ConfigSnapshot snapshot)
    {
        if (policy?.Resilience is not null || route.ClusterId is null) return;
        if (snapshot.ClusterPolicies.GetValueOrDefault(route.ClusterId)?.Mesh is not { } mesh) return;
        if (services.GetService<MeshDirectory>() is not { } directory) return;
        endpoint.WithMetadata(new MeshRouteResilience(directory, mesh.Service));
    }
}
