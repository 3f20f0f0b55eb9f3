using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Resilience.CircuitBreaking;

/// <summary>
/// A step of YARP's proxy pipeline, after load balancing has chosen the endpoint: refuses a request with 503
/// when more than <c>maxConnectionsPerEndpoint + maxPendingRequests</c> requests would be in flight to that
/// endpoint, i.e. when more than maxPendingRequests would wait for one of its connections.
/// </summary>
/// <remarks>
/// SocketsHttpHandler does not show its queue, so "pending" is counted from outside: with HTTP/1.1 a
/// connection carries one request at a time, so requests in flight beyond the connection limit are the ones
/// waiting. With HTTP/2 one connection carries many requests, so fewer are really waiting than counted; the
/// limit then caps the requests in flight to the endpoint at maxConnectionsPerEndpoint + maxPendingRequests.
/// </remarks>
internal sealed class PendingRequestsLimitMiddleware(RequestDelegate next, SnapshotAccessor snapshots, CircuitBreakers breakers)
{
    private readonly SnapshotFact<bool> _anyCluster = new(static snapshot => snapshot.ClusterPolicies.Values.Any(Limits));

    private static bool Limits(Configuration.ClusterPolicy policy) => policy.CircuitBreaker is { MaxPendingRequests: not null, MaxConnectionsPerEndpoint: not null };

    public Task InvokeAsync(HttpContext context)
    {
        var snapshot = snapshots.Current;
        if (!_anyCluster.Of(snapshot)) return next(context);
        var feature = context.GetReverseProxyFeature();
        var clusterId = feature.Cluster.Config.ClusterId;
        if (!snapshot.ClusterPolicies.TryGetValue(clusterId, out var policy)
            || policy.CircuitBreaker is not { MaxPendingRequests: { } pending, MaxConnectionsPerEndpoint: { } connections })
        {
            return next(context);
        }

        // Load balancing leaves exactly one; otherwise the forwarder answers (none) or picks (several) itself.
        var destinations = feature.AvailableDestinations;
        if (destinations.Count != 1)
        {
            return next(context);
        }

        var load = breakers.For(destinations[0]);
        return load.TryEnter(connections + pending)
            ? ForwardAsync(context, load)
            : breakers.RejectAsync(context, breakers.For(clusterId), CircuitLimit.MaxPendingRequests);
    }

    private async Task ForwardAsync(HttpContext context, CircuitBreakers.EndpointLoad load)
    {
        try
        {
            await next(context);
        }
        finally
        {
            load.Exit();
        }
    }
}
