using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.LoadBalancing;

public class LeastRequestsLoadBalancingPolicyTests
{
    private readonly LeastRequestsLoadBalancingPolicy _policy = new(new SeededRandomSource(1));
    private readonly ClusterState _cluster = TestModels.Cluster();
    private readonly DefaultHttpContext _context = new();

    [Fact]
    public void PickDestination_OneLessBusy_PicksIt()
    {
        DestinationState[] list =
        [
            TestModels.Destination("a", concurrentRequests: 5),
            TestModels.Destination("b", concurrentRequests: 2),
            TestModels.Destination("c", concurrentRequests: 9),
        ];

        Assert.Equal("b", _policy.PickDestination(_context, _cluster, list)!.DestinationId);
    }

    [Fact]
    public void PickDestination_HeavierWeight_DividesLoad()
    {
        // a: 6/3 = 2 per unit, b: 3/1 = 3 per unit, so a wins despite more requests.
        DestinationState[] list =
        [
            TestModels.Destination("a", weight: 3, concurrentRequests: 6),
            TestModels.Destination("b", weight: 1, concurrentRequests: 3),
        ];

        Assert.Equal("a", _policy.PickDestination(_context, _cluster, list)!.DestinationId);
    }

    [Fact]
    public void PickDestination_Ties_SpreadsRandomlyAmongTied()
    {
        DestinationState[] list =
        [
            TestModels.Destination("a", concurrentRequests: 1),
            TestModels.Destination("b", concurrentRequests: 1),
            TestModels.Destination("c", concurrentRequests: 4),
            TestModels.Destination("d", concurrentRequests: 1),
        ];
        var counts = new Dictionary<string, int>();

        for (var i = 0; i < 3000; i++)
        {
            var id = _policy.PickDestination(_context, _cluster, list)!.DestinationId;
            counts[id] = counts.GetValueOrDefault(id) + 1;
        }

        Assert.False(counts.ContainsKey("c"));
        Assert.All(["a", "b", "d"], id => Assert.InRange(counts.GetValueOrDefault(id), 850, 1150));
    }

    [Fact]
    public void PickDestination_ZeroWeightIdle_NotPicked()
    {
        DestinationState[] list =
        [
            TestModels.Destination("a", weight: 0, concurrentRequests: 0),
            TestModels.Destination("b", concurrentRequests: 10),
        ];

        Assert.Equal("b", _policy.PickDestination(_context, _cluster, list)!.DestinationId);
    }
}
