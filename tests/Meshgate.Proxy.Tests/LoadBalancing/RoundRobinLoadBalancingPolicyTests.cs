using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.LoadBalancing;

public class RoundRobinLoadBalancingPolicyTests
{
    private readonly RoundRobinLoadBalancingPolicy _policy = new();
    private readonly ClusterState _cluster = TestModels.Cluster();
    private readonly DefaultHttpContext _context = new();

    [Fact]
    public void PickDestination_EqualWeights_RotatesExactly()
    {
        DestinationState[] list = [TestModels.Destination("a"), TestModels.Destination("b"), TestModels.Destination("c")];

        var picks = Pick(list, 9);

        Assert.Equal("abcabcabc", picks);
    }

    [Fact]
    public void PickDestination_WeightsThreeToOne_SmoothAndExactOverCycle()
    {
        DestinationState[] list = [TestModels.Destination("a", weight: 3), TestModels.Destination("b", weight: 1)];

        var picks = Pick(list, 8);

        // Smooth: b is interleaved rather than appended after three a's.
        Assert.Equal("aabaaaba", picks);
    }

    [Fact]
    public void PickDestination_WeightsFiveThreeTwo_ProportionsExactOverFullCycles()
    {
        DestinationState[] list = [TestModels.Destination("a", weight: 50), TestModels.Destination("b", weight: 30), TestModels.Destination("c", weight: 20)];

        var picks = Pick(list, 10 * 7);

        Assert.Equal(35, picks.Count(c => c == 'a'));
        Assert.Equal(21, picks.Count(c => c == 'b'));
        Assert.Equal(14, picks.Count(c => c == 'c'));
        Assert.DoesNotContain("aaaa", picks);
    }

    [Fact]
    public void PickDestination_ZeroWeight_NeverPicked()
    {
        DestinationState[] list = [TestModels.Destination("a"), TestModels.Destination("b", weight: 0), TestModels.Destination("c")];

        var picks = Pick(list, 6);

        Assert.Equal("acacac", picks);
    }

    [Fact]
    public void PickDestination_NewListInstance_CounterContinuesPerCluster()
    {
        DestinationState[] first = [TestModels.Destination("a"), TestModels.Destination("b")];
        DestinationState[] second = [TestModels.Destination("x"), TestModels.Destination("y")];

        var picks = Pick(first, 1) + Pick(second, 1);

        Assert.Equal("ay", picks);
    }

    [Fact]
    public void PickDestination_Empty_ReturnsNull()
    {
        Assert.Null(_policy.PickDestination(_context, _cluster, []));
    }

    [Fact]
    public void BuildSchedule_HugeWeightSum_ScalesToBoundedLength()
    {
        var destinations = Enumerable.Range(0, 40).Select(i => TestModels.Destination($"d{i}")).ToArray();
        var weights = Enumerable.Range(0, 40).Select(i => 999 - i).ToArray();

        var schedule = RoundRobinLoadBalancingPolicy.BuildSchedule(destinations, weights);

        Assert.InRange(schedule.Length, 1, RoundRobinLoadBalancingPolicy.MaxScheduleLength);
        Assert.Equal(40, schedule.Distinct().Count());
    }

    private string Pick(IReadOnlyList<DestinationState> list, int count)
    {
        var picks = new char[count];
        for (var i = 0; i < count; i++)
        {
            picks[i] = _policy.PickDestination(_context, _cluster, list)!.DestinationId[0];
        }

        return new string(picks);
    }
}
