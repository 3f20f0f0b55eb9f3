using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>Picks a destination at random with probability proportional to its weight.</summary>
internal sealed class RandomLoadBalancingPolicy(IRandomSource random) : WeightedLoadBalancingPolicy
{
    public override string Name => PolicyNames.Random;

    protected override DestinationState Pick(HttpContext context, ClusterState cluster, WeightedDestinations weighted)
    {
        return weighted.Destinations[weighted.PickWeightedIndex(random)];
    }
}
