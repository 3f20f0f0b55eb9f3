using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.LoadBalancing;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy;

namespace Meshgate.Proxy.TrafficSplit;

/// <summary>
/// First step of YARP's proxy pipeline: moves a split route's request to the cluster its share says. YARP routed
/// it to the route's heaviest cluster; <c>ReassignProxyRequest</c> swaps in another cluster's destinations, so
/// load balancing, health and the forwarder that follow all work on the chosen cluster. The policy comes from
/// the endpoint's metadata, so a reload changes weights together with the endpoint, never mid-request.
/// </summary>
internal sealed class TrafficSplitMiddleware(RequestDelegate next, IProxyStateLookup proxyState, IRandomSource random)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<TrafficSplitPolicy>() is not { } split) return next(context);

        var cluster = TrafficSplitter.Choose(split, context.Request, random);
        var feature = context.GetReverseProxyFeature();
        if (!string.Equals(feature.Cluster?.Config.ClusterId, cluster, StringComparison.OrdinalIgnoreCase)
            && proxyState.TryGetCluster(cluster, out var state))
        {
            context.ReassignProxyRequest(state);
        }
        return next(context);
    }
}
