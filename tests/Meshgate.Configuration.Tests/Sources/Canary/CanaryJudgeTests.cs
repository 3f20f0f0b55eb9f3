using Meshgate.Configuration.Sources.Etcd.Canary;

namespace Meshgate.Configuration.Tests.Sources.Canary;

public sealed class CanaryJudgeTests
{
    private static readonly CanaryThresholds Thresholds = new(MaxErrorRateIncrease: 0.01, MaxP99Ratio: 1.5, TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5), MinRequests: 100);

    private static CanaryGroup Group(long requests, long errors, double? p99) => new(1, requests, errors, requests == 0 ? 0 : (double)errors / requests, p99);

    [Theory]
    // Error rate: more than 1 point higher rolls back, early too, once the canary has its minimum requests.
    [InlineData(200, 5, 10.0, 1000, 10, 10.0, false, "error rate 2.5% on the canary against 1% on the baseline: more than 1% higher")]
    [InlineData(200, 4, 10.0, 1000, 10, 10.0, true, null)]
    [InlineData(50, 50, 10.0, 1000, 0, 10.0, false, null)]
    // p99: judged at the end only.
    [InlineData(200, 0, 16.0, 1000, 0, 10.0, false, null)]
    [InlineData(200, 0, 16.0, 1000, 0, 10.0, true, "p99 16 ms on the canary against 10 ms on the baseline: more than 1.5 times")]
    [InlineData(200, 0, 15.0, 1000, 0, 10.0, true, null)]
    // Too little traffic at the end is not a promotion.
    [InlineData(99, 0, 10.0, 1000, 0, 10.0, true, "not enough requests to judge: 99 on the canary and 1000 on the baseline, 100 needed on each")]
    [InlineData(200, 0, 10.0, 10, 0, 10.0, true, "not enough requests to judge: 200 on the canary and 10 on the baseline, 100 needed on each")]
    public void Breach_JudgesAgainstTheThresholds(long requests, long errors, double p99, long baseRequests, long baseErrors, double baseP99, bool final, string? expected)
    {
        Assert.Equal(expected, CanaryJudge.Breach(Group(requests, errors, p99), Group(baseRequests, baseErrors, baseP99), Thresholds, final));
    }

    [Fact]
    public void Groups_SumTheReportsOfThisCanaryByRole_AndIgnoreOthers()
    {
        CanaryNodeReport Report(string node, string? canary, string? role, long requests, long errors, long[] histogram) =>
            new(node, canary, role, "rev", new CanaryFigures(requests, errors, histogram), DateTimeOffset.UnixEpoch);
        var reports = new[]
        {
            Report("n1", "c1", "canary", 10, 2, [0, 10]),
            Report("n2", "c1", "baseline", 30, 0, [30, 0]),
            Report("n3", "c1", "baseline", 20, 1, [10, 10]),
            Report("n4", "old", "canary", 1000, 1000, [0, 1000]),
            Report("n5", null, null, 0, 0, []),
        };

        var (canary, baseline) = CanaryJudge.Groups("c1", reports, h => h.Length > 1 && h[1] > 0 ? 2 : 1);

        Assert.Equal(new CanaryGroup(1, 10, 2, 0.2, 2), canary);
        Assert.Equal(new CanaryGroup(2, 50, 1, 0.02, 2), baseline);
        Assert.Equal("canary 1 node, 10 requests, 2 5xx (20%), p99 2 ms; baseline 2 nodes, 50 requests, 1 5xx (2%), p99 2 ms", CanaryJudge.Figures(canary, baseline));
    }
}
