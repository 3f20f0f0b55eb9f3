using Meshgate.Configuration;
using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Cors.Infrastructure;

namespace Meshgate.Proxy.Pipeline;

/// <summary>A step of the request path that acts on a route (the others would only pass its requests on).</summary>
[Flags]
internal enum RouteStep
{
    None = 0,
    // Slots 5a-10 of RequestPipeline.
    Cors = 1 << 0,
    Authentication = 1 << 1,
    Authorization = 1 << 2,
    RateLimit = 1 << 3,
    /// <summary>A resilience policy: the deadline (slot 8) and the retry step of the proxy pipeline.</summary>
    Resilience = 1 << 4,
    Cache = 1 << 5,
    Faults = 1 << 6,
    // The proxy pipeline's steps in front of session affinity.
    /// <summary>Tracing is on: the proxy pipeline tags the server span with the cluster.</summary>
    Tracing = 1 << 7,
    TrafficSplit = 1 << 8,
    Mirror = 1 << 9,
    /// <summary>A mesh cluster (its availability step), or a cluster the snapshot does not hold.</summary>
    Mesh = 1 << 10,
    /// <summary>The cluster's maxConcurrentRequests.</summary>
    ConcurrencyLimit = 1 << 11,
}

/// <summary>
/// Endpoint metadata: which steps of the request path act on the route. The routing step sends a request on a route none
/// of slots 5a-10 of <see cref="RequestPipeline"/> acts on (CORS, authentication, authorization, rate limiting, timeout,
/// cache, fault injection) straight past them, and the proxy pipeline one none of its steps in front of session affinity
/// acts on (traffic split, mirroring, retries, the cluster's concurrency limit) straight to session affinity; the direct
/// front end serves the routes whose steps it takes itself (docs/front-end.md). Each skipped step would have cost a
/// feature lookup (the endpoint) and a metadata lookup by type, or a policy lookup by route id: about 2 % of the
/// gateway's CPU on the catch-all (bench/cpu.sh), for nothing.
/// </summary>
/// <remarks>
/// Decided when the endpoint is built, from the metadata each step reads (so it says what the steps would find) and,
/// for authentication and the cluster's limits, which the steps read from the current snapshot, from the snapshot the
/// endpoint was built with. It holds only while that snapshot is the current one: a request routed to an endpoint of
/// an older snapshot (YARP rebuilds endpoints after the swap) takes every step, as before.
/// </remarks>
internal sealed class RouteSteps
{
    private const RouteStep RouteStepsMask = RouteStep.Cors | RouteStep.Authentication | RouteStep.Authorization | RouteStep.RateLimit
        | RouteStep.Resilience | RouteStep.Cache | RouteStep.Faults;

    private const RouteStep ProxyStepsMask = RouteStep.Tracing | RouteStep.TrafficSplit | RouteStep.Mirror | RouteStep.Resilience
        | RouteStep.Mesh | RouteStep.ConcurrencyLimit;

    private RouteSteps(ConfigSnapshot snapshot, RouteStep steps)
    {
        Snapshot = snapshot;
        Steps = steps;
    }

    /// <summary>The snapshot the decision was made from.</summary>
    public ConfigSnapshot Snapshot { get; }

    /// <summary>The steps that act on the route.</summary>
    public RouteStep Steps { get; }

    /// <summary>None of slots 5a-10 acts on the route.</summary>
    public bool SkipsRouteSteps => (Steps & RouteStepsMask) == 0;

    /// <summary>None of the proxy pipeline's steps before session affinity acts on the route.</summary>
    public bool SkipsProxySteps => (Steps & ProxyStepsMask) == 0;

    /// <summary>Whether the decision is about the running config.</summary>
    public bool Holds(SnapshotAccessor snapshots) => ReferenceEquals(Snapshot, snapshots.Current);

    /// <summary>The steps for an endpoint whose metadata is complete but for this.</summary>
    /// <param name="tracing">Tracing is on: the proxy pipeline then tags the server span with the cluster, a step not to skip.</param>
    public static RouteSteps For(EndpointBuilder endpoint, ConfigSnapshot snapshot, string routeId, string? clusterId, bool tracing)
    {
        var steps = RouteStep.None;
        // What slots 5a-10 and the proxy steps look up on the endpoint; RouteResilience.Of also reads a mesh cluster's resilience.
        foreach (var item in endpoint.Metadata)
        {
            steps |= item switch
            {
                ICorsMetadata or ICorsPolicyMetadata => RouteStep.Cors,
                AuthorizationPolicy => RouteStep.Authorization,
                RateLimiting.RouteRateLimit => RouteStep.RateLimit,
                Resilience.RouteResilience or Mesh.Discovery.MeshRouteResilience => RouteStep.Resilience,
                Caching.RouteCache => RouteStep.Cache,
                FaultPolicy => RouteStep.Faults,
                TrafficSplitPolicy => RouteStep.TrafficSplit,
                MirrorPolicy => RouteStep.Mirror,
                _ => RouteStep.None,
            };
        }
        // The authentication step reads the current snapshot's policy by route id.
        if (snapshot.RoutePolicies.GetValueOrDefault(routeId)?.Authentication is not null) steps |= RouteStep.Authentication;
        if (tracing) steps |= RouteStep.Tracing;
        var cluster = clusterId is null ? null : snapshot.ClusterPolicies.GetValueOrDefault(clusterId);
        // Mesh availability answers for a mesh cluster without instances; the concurrency limit is the cluster's.
        if (cluster is not { Mesh: null }) steps |= RouteStep.Mesh;
        if (cluster?.CircuitBreaker?.MaxConcurrentRequests is not null) steps |= RouteStep.ConcurrencyLimit;
        return new RouteSteps(snapshot, steps);
    }
}
