using Meshgate.Configuration;
using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Cors.Infrastructure;

namespace Meshgate.Proxy.Pipeline;

/// <summary>
/// Endpoint metadata of a route that the per-route steps would only pass on: none of slots 5a-10 of
/// <see cref="RequestPipeline"/> (CORS, authentication, authorization, rate limiting, timeout, cache, fault injection)
/// acts on it, and, when <see cref="SkipsProxySteps"/>, none of the proxy pipeline's steps in front of session affinity
/// (traffic split, mirroring, retries, the cluster's concurrency limit) either. The routing step sends such a request
/// straight past them. Each of those steps costs a plain route a feature lookup (the endpoint) and a metadata lookup by
/// type, or a policy lookup by route id: about 2 % of the gateway's CPU on the catch-all (bench/cpu.sh), for nothing.
/// </summary>
/// <remarks>
/// Decided when the endpoint is built, from the metadata each step reads (so it says what the steps would find) and,
/// for authentication and the cluster's limits, which the steps read from the current snapshot, from the snapshot the
/// endpoint was built with. It holds only while that snapshot is the current one: a request routed to an endpoint of
/// an older snapshot (YARP rebuilds endpoints after the swap) takes every step, as before.
/// </remarks>
internal sealed class PlainRoute
{
    private PlainRoute(ConfigSnapshot snapshot, bool skipsProxySteps)
    {
        Snapshot = snapshot;
        SkipsProxySteps = skipsProxySteps;
    }

    /// <summary>The snapshot the decision was made from.</summary>
    public ConfigSnapshot Snapshot { get; }

    /// <summary>The proxy pipeline's steps before session affinity do nothing for this route either.</summary>
    public bool SkipsProxySteps { get; }

    /// <summary>Whether the decision is about the running config.</summary>
    public bool Holds(SnapshotAccessor snapshots) => ReferenceEquals(Snapshot, snapshots.Current);

    /// <summary>The marker for an endpoint whose metadata is complete but for it; null when any of the route steps acts on the route.</summary>
    /// <param name="tracing">Tracing is on: the proxy pipeline then tags the server span with the cluster, a step not to skip.</param>
    public static PlainRoute? For(EndpointBuilder endpoint, ConfigSnapshot snapshot, string routeId, string? clusterId, bool tracing)
    {
        var metadata = endpoint.Metadata;
        // What slots 5a-10 look up on the endpoint (CORS both ways, authorization, rate limit, timeout, cache, faults);
        // RouteResilience.Of also reads a mesh cluster's resilience.
        if (metadata.Any(m => m is ICorsMetadata or ICorsPolicyMetadata or AuthorizationPolicy or RateLimiting.RouteRateLimit or Resilience.RouteResilience
            or Mesh.Discovery.MeshRouteResilience or Caching.RouteCache or FaultPolicy))
        {
            return null;
        }
        // The authentication step reads the current snapshot's policy by route id.
        if (snapshot.RoutePolicies.GetValueOrDefault(routeId)?.Authentication is not null) return null;
        var cluster = clusterId is null ? null : snapshot.ClusterPolicies.GetValueOrDefault(clusterId);
        var skipsProxySteps = !tracing
            && !metadata.Any(m => m is TrafficSplitPolicy or MirrorPolicy)
            // Mesh availability answers for a mesh cluster without instances; the concurrency limit is the cluster's.
            && cluster is { Mesh: null } && cluster.CircuitBreaker?.MaxConcurrentRequests is null;
        return new PlainRoute(snapshot, skipsProxySteps);
    }
}
