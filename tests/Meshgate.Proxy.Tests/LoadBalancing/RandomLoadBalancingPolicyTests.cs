using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.LoadBalancing;

public class RandomLoadBalancingPolicyTests
{
    private readonly RandomLoadBalancingPolicy _policy = new(new SeededRandomSource(11));
    private readonly ClusterState _cluster = TestModels.Cluster();
    private readonly DefaultHttpContext _context = new();

    [Fact]
    public void PickDestination_EqualWeights_UniformWithinBounds()
    {
        DestinationState[] list = [TestModels.Destination("a"), TestModels.Destination("b"), TestModels.Destination("c")];

        var counts = Count(list, 9000);

        Assert.All(["a", "b", "c"], id => Assert.InRange(counts.GetValueOrDefault(id), 2800, 3200));
    }

    [Fact]
    public void PickDestination_WeightsOneToFour_ProportionalWithinBounds()
    {
        DestinationState[] list = [TestModels.Destination("a", weight: 1), TestModels.Destination("b", weight: 4)];

        var counts = Count(list, 10000);

        Assert.InRange(counts.GetValueOrDefault("a"), 1850, 2150);
        Assert.InRange(counts.GetValueOrDefault("b"), 7850, 8150);
    }

    [Fact]
    public void PickDestination_ZeroWeight_NeverPicked()
    {
        DestinationState[] list = [TestModels.Destination("a", weight: 0), TestModels.Destination("b"), TestModels.Destination("c")];

        var counts = Count(list, 1000);

        Assert.False(counts.ContainsKey("a"));
    }

    private Dictionary<string, int> Count(IReadOnlyList<DestinationState> list, int picks)
    {
        var counts = new Dictionary<string, int>();
        for (var i = 0; i < picks; i++)
        {
            var id = _policy.PickDestination(_context, _cluster, list)!.DestinationId;
            counts[id] = counts.GetValueOrDefault(id) + 1;
        }

        return counts;
    }
}
