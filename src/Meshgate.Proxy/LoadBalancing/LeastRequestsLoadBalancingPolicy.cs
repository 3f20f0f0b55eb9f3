using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>
/// Picks the destination with the fewest in-flight requests per unit of weight; ties are broken at random
/// so that idle destinations share a burst instead of the first one in the list taking all of it.
/// </summary>
internal sealed class LeastRequestsLoadBalancingPolicy(IRandomSource random) : WeightedLoadBalancingPolicy
{
    public override string Name => PolicyNames.LeastRequests;

    protected override DestinationState Pick(HttpContext context, ClusterState cluster, WeightedDestinations weighted)
    {
        var destinations = weighted.Destinations;
        var weights = weighted.Weights;
        var best = 0;
        long bestLoad = destinations[0].ConcurrentRequestCount;
        var ties = 1;
        for (var i = 1; i < destinations.Length; i++)
        {
            long load = destinations[i].ConcurrentRequestCount;
            // load/weight < bestLoad/bestWeight, compared without division so equal ratios are exact ties.
            var order = (load * weights[best]).CompareTo(bestLoad * weights[i]);
            if (order < 0)
            {
                best = i;
                bestLoad = load;
                ties = 1;
            }
            else if (order == 0)
            {
                // Reservoir sampling: each of the k tied destinations ends up chosen with probability 1/k.
                ties++;
                if (random.Next(ties) == 0)
                {
                    best = i;
                    bestLoad = load;
                }
            }
        }

        return destinations[best];
    }
}
