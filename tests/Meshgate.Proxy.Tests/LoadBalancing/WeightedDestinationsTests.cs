using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Tests.TestSupport;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.LoadBalancing;

public class WeightedDestinationsTests
{
    [Fact]
    public void For_WeightAbsent_CountsAsOne()
    {
        var weighted = WeightedDestinations.For([TestModels.Destination("a"), TestModels.Destination("b", weight: 4)]);

        Assert.Equal([1, 4], weighted.Weights);
        Assert.Equal(5, weighted.TotalWeight);
    }

    [Fact]
    public void For_ZeroWeight_ExcludesDestination()
    {
        var weighted = WeightedDestinations.For([TestModels.Destination("a", weight: 0), TestModels.Destination("b", weight: 2)]);

        Assert.Equal(["b"], weighted.Destinations.Select(d => d.DestinationId));
    }

    [Fact]
    public void For_AllZeroWeights_TreatsAllAsOne()
    {
        var weighted = WeightedDestinations.For([TestModels.Destination("a", weight: 0), TestModels.Destination("b", weight: 0)]);

        Assert.Equal(["a", "b"], weighted.Destinations.Select(d => d.DestinationId));
        Assert.Equal([1, 1], weighted.Weights);
    }

    [Fact]
    public void For_WeightAboveMaximum_IsClamped()
    {
        var weighted = WeightedDestinations.For([TestModels.Destination("a", weight: 5000)]);

        Assert.Equal([WeightedDestinations.MaxWeight], weighted.Weights);
    }

    [Fact]
    public void For_SameList_ReturnsCachedInstance()
    {
        DestinationState[] list = [TestModels.Destination("a"), TestModels.Destination("b")];

        Assert.Same(WeightedDestinations.For(list), WeightedDestinations.For(list));
    }

    [Fact]
    public void For_ListMutatedInPlace_Rebuilds()
    {
        var list = new List<DestinationState> { TestModels.Destination("a"), TestModels.Destination("b") };
        var first = WeightedDestinations.For(list);

        list[1] = TestModels.Destination("c");
        var second = WeightedDestinations.For(list);

        Assert.NotSame(first, second);
        Assert.Equal(["a", "c"], second.Destinations.Select(d => d.DestinationId));
    }

    [Fact]
    public void PickWeightedIndexExcluding_Always_NeverReturnsExcludedAndFollowsWeights()
    {
        var weighted = WeightedDestinations.For(
            [TestModels.Destination("a", weight: 1), TestModels.Destination("b", weight: 5), TestModels.Destination("c", weight: 3)]);
        var random = new SeededRandomSource(7);
        var counts = new int[3];

        for (var i = 0; i < 8000; i++)
        {
            counts[weighted.PickWeightedIndexExcluding(random, excluded: 1)]++;
        }

        Assert.Equal(0, counts[1]);
        // Without b, a:c should be 1:3, i.e. a gets about 2000 of 8000.
        Assert.InRange(counts[0], 1700, 2300);
    }
}
