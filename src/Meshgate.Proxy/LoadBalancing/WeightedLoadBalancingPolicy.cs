using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>
/// What every Meshgate balancer does first: with one candidate there is nothing to choose, whatever the
/// weights (the hot path of a single-endpoint cluster skips schedules, rings and counters); weight-0
/// destinations drop out; only a real choice between two or more reaches the algorithm.
/// </summary>
internal abstract class WeightedLoadBalancingPolicy : ILoadBalancingPolicy
{
    public abstract string Name { get; }

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count == 1)
        {
            return availableDestinations[0];
        }
        var weighted = WeightedDestinations.For(availableDestinations);
        return weighted.Count switch
        {
            0 => null,
            1 => weighted.Destinations[0],
            _ => Pick(context, cluster, weighted),
        };
    }

    /// <summary>Chooses among two or more destinations, all with positive weights.</summary>
    protected abstract DestinationState Pick(HttpContext context, ClusterState cluster, WeightedDestinations weighted);
}
