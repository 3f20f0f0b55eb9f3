using Meshgate.Commands;

namespace Meshgate.IntegrationTests.EtcdConfig;

/// <summary>Which nodes a canary picks, and how `--canary` options are read (no etcd needed).</summary>
public sealed class CanaryRolloutTests
{
    [Theory]
    [InlineData(2, 1, 1)]
    [InlineData(2, 50, 1)]
    [InlineData(2, 99, 1)]
    [InlineData(3, 30, 1)]
    [InlineData(3, 34, 2)]
    [InlineData(10, 10, 1)]
    [InlineData(10, 25, 3)]
    [InlineData(10, 99, 9)]
    public void Choose_TakesTheShareRoundedUp_AtLeastOneAndNeverAll(int nodes, double share, int expected)
    {
        var ids = Enumerable.Range(0, nodes).Select(i => $"gw-{i}").ToList();
        Assert.Equal(expected, CanaryRollout.Choose(ids, share).Count);
    }

    [Fact]
    public void Choose_IsStable_WhateverOrderTheNodesAreListedIn()
    {
        var ids = Enumerable.Range(0, 10).Select(i => $"gw-{i}").ToList();
        var first = CanaryRollout.Choose(ids, 30);
        Assert.Equal(first, CanaryRollout.Choose([.. Enumerable.Reverse(ids)], 30));
        // A larger share keeps the nodes a smaller one picked.
        Assert.All(first, id => Assert.Contains(id, CanaryRollout.Choose(ids, 60)));
    }

    [Fact]
    public void Parse_ReadsPercentagesAndDurations_WithDefaults()
    {
        var parsed = CanaryArguments.Parse("10%", "0.5%", "1.5", "2m", null, null, out var problems);
        Assert.Empty(problems);
        Assert.Equal(10, parsed!.SharePercent);
        Assert.Equal(0.005, parsed.Thresholds.MaxErrorRateIncrease, 6);
        Assert.Equal(1.5, parsed.Thresholds.MaxP99Ratio);
        Assert.Equal(TimeSpan.FromMinutes(2), parsed.Thresholds.Duration);
        Assert.Equal(CanaryArguments.DefaultInterval, parsed.Thresholds.Interval);
        Assert.Equal(CanaryArguments.DefaultMinRequests, parsed.Thresholds.MinRequests);
    }

    [Fact]
    public void Parse_NamesEveryProblemAtOnce()
    {
        Assert.Null(CanaryArguments.Parse("0", "200%", null, "1m", "0s", 0, out var problems));
        Assert.Equal(
        [
            "--canary needs thresholds to judge the candidate by: missing --max-p99-ratio (like --max-error-rate-increase 1% --max-p99-ratio 1.5 --duration 5m)",
            "--canary: expected a share of the nodes above 0% and below 100%, like 10% (got '0')",
            "--max-error-rate-increase: expected percentage points between 0% and 100%, like 1% (got '200%')",
            "--interval: expected a duration of 100ms or more, like 5s (got '0s')",
            "--min-requests: expected 1 or more (got 0)",
        ], problems);
    }
}
