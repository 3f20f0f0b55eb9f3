using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>
/// Draws two distinct destinations by weighted random and keeps the one with fewer in-flight requests per
/// unit of weight. Nearly as good as least-requests at spreading load, without scanning every destination
/// and without every gateway stampeding the same momentarily idle destination.
/// </summary>
internal sealed class PowerOfTwoChoicesLoadBalancingPolicy(IRandomSource random) : WeightedLoadBalancingPolicy
{
    public override string Name => PolicyNames.PowerOfTwoChoices;

    protected override DestinationState Pick(HttpContext context, ClusterState cluster, WeightedDestinations weighted)
    {
        var first = weighted.PickWeightedIndex(random);
        var second = weighted.PickWeightedIndexExcluding(random, first);
        var a = weighted.Destinations[first];
        var b = weighted.Destinations[second];

        // a.load/a.weight <= b.load/b.weight; on a tie keep the first draw, which is already random.
        return (long)a.ConcurrentRequestCount * weighted.Weights[second] <= (long)b.ConcurrentRequestCount * weighted.Weights[first] ? a : b;
    }
}
