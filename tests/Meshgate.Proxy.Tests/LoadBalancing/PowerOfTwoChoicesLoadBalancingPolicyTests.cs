using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.LoadBalancing;

public class PowerOfTwoChoicesLoadBalancingPolicyTests
{
    private readonly PowerOfTwoChoicesLoadBalancingPolicy _policy = new(new SeededRandomSource(3));
    private readonly ClusterState _cluster = TestModels.Cluster();
    private readonly DefaultHttpContext _context = new();

    [Fact]
    public void PickDestination_TwoDestinations_AlwaysPicksLessBusy()
    {
        DestinationState[] list = [TestModels.Destination("a", concurrentRequests: 7), TestModels.Destination("b", concurrentRequests: 1)];

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal("b", _policy.PickDestination(_context, _cluster, list)!.DestinationId);
        }
    }

    [Fact]
    public void PickDestination_OneIdleAmongBusy_IdlePickedInLargeMajority()
    {
        DestinationState[] list =
        [
            TestModels.Destination("busy1", concurrentRequests: 10),
            TestModels.Destination("idle", concurrentRequests: 0),
            TestModels.Destination("busy2", concurrentRequests: 10),
            TestModels.Destination("busy3", concurrentRequests: 10),
        ];
        var idle = 0;

        for (var i = 0; i < 1000; i++)
        {
            if (_policy.PickDestination(_context, _cluster, list)!.DestinationId == "idle")
            {
                idle++;
            }
        }

        // The idle one is picked whenever it is one of the two draws: 1 - (3/4 * 2/3) = 1/2 of the time,
        // against 1/4 for a blind random pick.
        Assert.InRange(idle, 440, 560);
    }

    [Fact]
    public void PickDestination_LeastBusyOfMany_BeatsMostBusyInLargeMajority()
    {
        var list = Enumerable.Range(0, 5).Select(i => TestModels.Destination($"d{i}", concurrentRequests: i * 3)).ToArray();
        var counts = new int[5];

        for (var i = 0; i < 1000; i++)
        {
            counts[_policy.PickDestination(_context, _cluster, list)!.DestinationId[1] - '0']++;
        }

        // The busiest never wins a comparison; the least busy wins every comparison it is in (2/5 of picks).
        Assert.Equal(0, counts[4]);
        Assert.InRange(counts[0], 340, 460);
        Assert.True(counts[0] > counts[1] && counts[1] > counts[2] && counts[2] > counts[3]);
    }

    [Fact]
    public void PickDestination_SingleWeighted_ReturnsIt()
    {
        DestinationState[] list = [TestModels.Destination("a", weight: 0), TestModels.Destination("b", concurrentRequests: 50)];

        Assert.Equal("b", _policy.PickDestination(_context, _cluster, list)!.DestinationId);
    }
}
