using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>
/// Draws two distinct destinations by weighted random and keeps the one with fewer in-flight requests per
/// unit of weight. Nearly as good as least-requests at spreading load, without scanning every destination
/// and without every gateway stampeding the same momentarily idle destination.
/// </summary>
internal sealed class PowerOfTwoChoicesLoadBalancingPolicy(IRandomSource random) : ILoadBalancingPolicy
{
    public string Name => PolicyNames.PowerOfTwoChoices;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count == 1)
        {
            // Nothing to choose between, whatever the weights: skip the schedule, ring and counters.
            return availableDestinations[0];
        }

        var weighted = WeightedDestinations.For(availableDestinations);
        if (weighted.Count == 0)
        {
            return null;
        }

        if (weighted.Count == 1)
        {
            return weighted.Destinations[0];
        }

        var first = weighted.PickWeightedIndex(random);
        var second = weighted.PickWeightedIndexExcluding(random, first);
        var a = weighted.Destinations[first];
        var b = weighted.Destinations[second];

        // a.load/a.weight <= b.load/b.weight; on a tie keep the first draw, which is already random.
        return (long)a.ConcurrentRequestCount * weighted.Weights[second] <= (long)b.ConcurrentRequestCount * weighted.Weights[first] ? a : b;
    }
}
