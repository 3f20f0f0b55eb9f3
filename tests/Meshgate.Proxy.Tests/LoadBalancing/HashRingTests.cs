using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Tests.TestSupport;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.LoadBalancing;

public class HashRingTests
{
    [Fact]
    public void Lookup_AddingFifthDestination_MovesAboutOneFifthOnlyToNewOne()
    {
        var four = Enumerable.Range(0, 4).Select(i => TestModels.Destination($"backend-{i}")).ToArray();
        var five = four.Append(TestModels.Destination("backend-4")).ToArray();
        var before = new HashRing(four, [1, 1, 1, 1]);
        var after = new HashRing(five, [1, 1, 1, 1, 1]);
        var moved = 0;

        for (var k = 0; k < 10_000; k++)
        {
            var key = StableHash.Hash($"user-{k}");
            var oldOwner = before.Lookup(key);
            var newOwner = after.Lookup(key);
            if (!ReferenceEquals(oldOwner, newOwner))
            {
                moved++;
                Assert.Equal("backend-4", newOwner.DestinationId);
            }
        }

        Assert.InRange(moved / 10_000.0, 0.10, 0.30);
    }

    [Fact]
    public void Lookup_RemovingOneOfFive_MovesOnlyItsKeys()
    {
        var five = Enumerable.Range(0, 5).Select(i => TestModels.Destination($"backend-{i}")).ToArray();
        var withoutThird = five.Where((_, i) => i != 2).ToArray();
        var before = new HashRing(five, [1, 1, 1, 1, 1]);
        var after = new HashRing(withoutThird, [1, 1, 1, 1]);

        for (var k = 0; k < 10_000; k++)
        {
            var key = StableHash.Hash($"session-{k}");
            var oldOwner = before.Lookup(key);
            if (oldOwner.DestinationId != "backend-2")
            {
                Assert.Same(oldOwner, after.Lookup(key));
            }
        }
    }

    [Fact]
    public void Lookup_WeightThreeToOne_ShareFollowsWeight()
    {
        DestinationState[] destinations = [TestModels.Destination("heavy"), TestModels.Destination("light")];
        var ring = new HashRing(destinations, [3, 1]);
        var heavy = 0;

        for (var k = 0; k < 20_000; k++)
        {
            if (ring.Lookup(StableHash.Hash($"k{k}")).DestinationId == "heavy")
            {
                heavy++;
            }
        }

        Assert.InRange(heavy / 20_000.0, 0.70, 0.80);
    }

    [Fact]
    public void Ctor_WeightSumAboveCap_BoundsRingSize()
    {
        var destinations = Enumerable.Range(0, 10).Select(i => TestModels.Destination($"d{i}")).ToArray();

        var ring = new HashRing(destinations, Enumerable.Repeat(1000, 10).ToArray());

        Assert.InRange(ring.Size, 10, HashRing.MaxPoints);
    }

    [Fact]
    public void Ctor_SameDestinationsInOtherOrder_SameOwners()
    {
        DestinationState[] destinations = [TestModels.Destination("a"), TestModels.Destination("b"), TestModels.Destination("c")];
        var forward = new HashRing(destinations, [1, 2, 1]);
        var reversed = new HashRing(destinations.Reverse().ToArray(), [1, 2, 1]);

        for (var k = 0; k < 1000; k++)
        {
            var key = StableHash.Hash($"k{k}");
            Assert.Same(forward.Lookup(key), reversed.Lookup(key));
        }
    }
}
