using System.Globalization;

namespace Meshgate.Configuration.Sources.Etcd.Canary;

/// <summary>Sums the nodes' reports into the two sides of a canary and judges them against the thresholds.</summary>
public static class CanaryJudge
{
    public const string CanaryRole = "canary";
    public const string BaselineRole = "baseline";

    /// <param name="p99">The 99th percentile of a latency histogram (the live statistics' buckets).</param>
    public static (CanaryGroup Canary, CanaryGroup Baseline) Groups(string canaryId, IReadOnlyList<CanaryNodeReport> reports, Func<long[], double?> p99) =>
        (Group(reports.Where(r => r.Canary == canaryId && r.Role == CanaryRole).ToList(), p99),
         Group(reports.Where(r => r.Canary == canaryId && r.Role == BaselineRole).ToList(), p99));

    private static CanaryGroup Group(IReadOnlyList<CanaryNodeReport> reports, Func<long[], double?> p99)
    {
        var sum = reports.Aggregate(CanaryFigures.Empty(0), (total, r) => total.Add(r.Figures));
        return new CanaryGroup(reports.Count, sum.Requests, sum.ServerErrors, sum.Requests == 0 ? 0 : Math.Round((double)sum.ServerErrors / sum.Requests, 4), p99(sum.Histogram));
    }

    /// <summary>
    /// Why the canary must be rolled back, or null. While it runs (<paramref name="final"/> false) only a worse error
    /// rate over at least the minimum requests ends it early; at the end both sides need the minimum requests, then
    /// the error rate and the p99 are compared.
    /// </summary>
    public static string? Breach(CanaryGroup canary, CanaryGroup baseline, CanaryThresholds thresholds, bool final)
    {
        var enough = canary.Requests >= thresholds.MinRequests && baseline.Requests >= thresholds.MinRequests;
        if (canary.Requests >= thresholds.MinRequests && canary.ErrorRate - baseline.ErrorRate > thresholds.MaxErrorRateIncrease)
        {
            return $"error rate {Percent(canary.ErrorRate)} on the canary against {Percent(baseline.ErrorRate)} on the baseline: more than {Percent(thresholds.MaxErrorRateIncrease)} higher";
        }
        if (!final) return null;
        if (!enough)
        {
            return $"not enough requests to judge: {canary.Requests} on the canary and {baseline.Requests} on the baseline, {thresholds.MinRequests} needed on each";
        }
        if (canary.P99Ms is { } c && baseline.P99Ms is { } b && c > b * thresholds.MaxP99Ratio)
        {
            return $"p99 {Ms(c)} on the canary against {Ms(b)} on the baseline: more than {thresholds.MaxP99Ratio.ToString(CultureInfo.InvariantCulture)} times";
        }
        return null;
    }

    /// <summary>The figures on one line, for the log and the command's output.</summary>
    public static string Figures(CanaryGroup canary, CanaryGroup baseline) => $"canary {Side(canary)}; baseline {Side(baseline)}";

    private static string Side(CanaryGroup group) =>
        $"{group.Nodes} node{(group.Nodes == 1 ? "" : "s")}, {group.Requests} requests, {group.ServerErrors} 5xx ({Percent(group.ErrorRate)}), p99 {(group.P99Ms is { } p ? Ms(p) : "-")}";

    public static string Percent(double share) => (share * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";

    private static string Ms(double ms) => ms.ToString("0.###", CultureInfo.InvariantCulture) + " ms";
}
