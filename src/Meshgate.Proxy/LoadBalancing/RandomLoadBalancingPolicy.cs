using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>Picks a destination at random with probability proportional to its weight.</summary>
internal sealed class RandomLoadBalancingPolicy(IRandomSource random) : ILoadBalancingPolicy
{
    public string Name => PolicyNames.Random;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count == 1)
        {
            // Nothing to choose between, whatever the weights: skip the schedule, ring and counters.
            return availableDestinations[0];
        }

        var weighted = WeightedDestinations.For(availableDestinations);
        return weighted.Count == 0 ? null : weighted.Destinations[weighted.PickWeightedIndex(random)];
    }
}
