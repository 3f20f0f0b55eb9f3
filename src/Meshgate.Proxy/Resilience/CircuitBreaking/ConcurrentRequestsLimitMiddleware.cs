using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Resilience.CircuitBreaking;

/// <summary>
/// A step of YARP's proxy pipeline: refuses a request with 503 when its cluster already has
/// <c>circuitBreaker.maxConcurrentRequests</c> requests in flight. Runs inside retries, so every attempt counts.
/// </summary>
internal sealed class ConcurrentRequestsLimitMiddleware(RequestDelegate next, SnapshotAccessor snapshots, CircuitBreakers breakers)
{
    private readonly SnapshotFact<bool> _anyCluster = new(static snapshot => snapshot.ClusterPolicies.Values.Any(p => p.CircuitBreaker?.MaxConcurrentRequests is not null));

    public Task InvokeAsync(HttpContext context)
    {
        var snapshot = snapshots.Current;
        if (!_anyCluster.Of(snapshot)) return next(context);
        // The cluster of this attempt: a traffic split before this step may have replaced the route's.
        var clusterId = context.GetReverseProxyFeature().Cluster.Config.ClusterId;
        if (!snapshot.ClusterPolicies.TryGetValue(clusterId, out var policy) || policy.CircuitBreaker?.MaxConcurrentRequests is not { } limit)
        {
            return next(context);
        }

        var circuit = breakers.For(clusterId);
        return circuit.TryEnter(limit) ? ForwardAsync(context, circuit) : breakers.RejectAsync(context, circuit, CircuitLimit.MaxConcurrentRequests);
    }

    private async Task ForwardAsync(HttpContext context, CircuitBreakers.ClusterCircuit circuit)
    {
        try
        {
            await next(context);
        }
        finally
        {
            circuit.Exit();
        }
    }
}
