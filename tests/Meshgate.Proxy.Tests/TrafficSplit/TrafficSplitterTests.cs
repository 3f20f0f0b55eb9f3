using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Tests.TestSupport;
using Meshgate.Proxy.TrafficSplit;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Tests.TrafficSplit;

public sealed class TrafficSplitterTests
{
    private static TrafficSplitPolicy Split(int stable, int canary, SplitKeySource source = SplitKeySource.None, string? key = null) =>
        new("orders", [("orders", stable), ("orders-v2", canary)], source, key, "x-canary",
            new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["always"] = "orders-v2", ["never"] = "orders" });

    private static HttpRequest Request(params (string Name, string Value)[] headers)
    {
        var context = new DefaultHttpContext();
        foreach (var (name, value) in headers) context.Request.Headers[name] = value;
        return context.Request;
    }

    [Theory]
    [InlineData(0, "orders")]
    [InlineData(89, "orders")]
    [InlineData(90, "orders-v2")]
    [InlineData(99, "orders-v2")]
    public void Choose_NoKey_RandomPointOnCumulativeWeights(long point, string expected) =>
        Assert.Equal(expected, TrafficSplitter.Choose(Split(90, 10), Request(), new ScriptedRandomSource(point)));

    [Fact]
    public void Choose_ZeroWeight_OwnsNoPoint()
    {
        var split = new TrafficSplitPolicy("r", [("a", 0), ("b", 5), ("c", 0)], SplitKeySource.None, null, null, null);
        for (var point = 0; point < 5; point++) Assert.Equal("b", split.ClusterAt(point));
    }

    [Fact]
    public void Choose_OverrideValue_ForcesClusterWithoutDrawing()
    {
        var random = new ScriptedRandomSource();
        Assert.Equal("orders-v2", TrafficSplitter.Choose(Split(100, 0), Request(("x-canary", "ALWAYS")), random));
        Assert.Equal("orders", TrafficSplitter.Choose(Split(0, 100), Request(("x-canary", "never")), random));
        Assert.Equal(0, random.Calls);
    }

    [Fact]
    public void Choose_UnknownOverrideValue_FollowsWeights() =>
        Assert.Equal("orders", TrafficSplitter.Choose(Split(90, 10), Request(("x-canary", "maybe")), new ScriptedRandomSource(5)));

    [Fact]
    public void Choose_StickyHeader_SameValueSameClusterNoDraw()
    {
        var split = Split(50, 50, SplitKeySource.Header, "x-user");
        var random = new ScriptedRandomSource();
        for (var user = 0; user < 100; user++)
        {
            var first = TrafficSplitter.Choose(split, Request(("x-user", $"u{user}")), random);
            for (var i = 0; i < 5; i++) Assert.Equal(first, TrafficSplitter.Choose(split, Request(("x-user", $"u{user}")), random));
        }
        Assert.Equal(0, random.Calls);
    }

    [Fact]
    public void Choose_StickyCookieMissing_DrawsAtRandom()
    {
        var split = Split(50, 50, SplitKeySource.Cookie, "session");
        Assert.Equal("orders-v2", TrafficSplitter.Choose(split, Request(("Cookie", "other=1")), new ScriptedRandomSource(75)));
    }

    [Fact]
    public void PointOf_WeightsMove_OnlyKeysNearTheBoundaryChangeCluster()
    {
        var before = Split(90, 10);
        var after = Split(80, 20);
        var moved = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var key = $"user-{i}";
            var was = before.ClusterAt(TrafficSplitter.PointOf(key, before.TotalWeight));
            var now = after.ClusterAt(TrafficSplitter.PointOf(key, after.TotalWeight));
            if (was == "orders-v2") Assert.Equal("orders-v2", now); // canary users stay on the canary as it grows
            if (was != now) moved++;
        }
        Assert.InRange(moved, 800, 1200); // about the tenth of the line that changed owner
    }
}
