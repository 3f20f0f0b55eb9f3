namespace Meshgate.Configuration.Sources.Etcd.Canary;

/// <summary>
/// A canary in progress, as `config push --canary` writes it under the canary prefix: which nodes run which config
/// until when. The key is held by the pushing command's lease, so it disappears when the command dies; nodes also
/// ignore it (and remove it) after <see cref="Deadline"/>, so no node stays on the candidate for good.
/// </summary>
/// <param name="Nodes">The node ids that run the candidate; every other node stays on the config in etcd (the baseline).</param>
/// <param name="Candidate">The candidate config's YAML, validated by the command; each canary node validates it again.</param>
/// <param name="CandidateRevision">The revision (hash) the candidate has once applied: canary nodes report it as their running revision.</param>
/// <param name="BaseRevision">The config in etcd when the canary started: promotion writes the candidate only over this revision.</param>
public sealed record CanaryPlan(string Id, double SharePercent, IReadOnlyList<string> Nodes, string Candidate, string CandidateRevision, string BaseRevision,
    DateTimeOffset StartedAt, DateTimeOffset Deadline);

/// <summary>What one node's requests did since it took its role in the current canary.</summary>
/// <param name="ServerErrors">Answers with a 5xx status (gateway-made 502/503/504 included).</param>
/// <param name="Histogram">Request durations in the live statistics' latency buckets (√2 wide, from 0.1 ms).</param>
public sealed record CanaryFigures(long Requests, long ServerErrors, long[] Histogram)
{
    public static CanaryFigures Empty(int buckets) => new(0, 0, new long[buckets]);

    public CanaryFigures Add(CanaryFigures other)
    {
        var histogram = new long[Math.Max(Histogram.Length, other.Histogram.Length)];
        for (var i = 0; i < histogram.Length; i++) histogram[i] = (i < Histogram.Length ? Histogram[i] : 0) + (i < other.Histogram.Length ? other.Histogram[i] : 0);
        return new CanaryFigures(Requests + other.Requests, ServerErrors + other.ServerErrors, histogram);
    }
}

/// <summary>
/// A gateway node's entry under <c>nodes/&lt;id&gt;</c>, renewed every interval and held by the node's lease: the
/// push command counts the live nodes from these and reads their figures.
/// </summary>
/// <param name="Canary">The canary the figures belong to; null when none is running (the figures are then empty).</param>
/// <param name="Role">"canary" (runs the candidate) or "baseline"; null without a canary.</param>
/// <param name="Revision">The config revision the node runs.</param>
public sealed record CanaryNodeReport(string Node, string? Canary, string? Role, string Revision, CanaryFigures Figures, DateTimeOffset At);

/// <summary>One side of the comparison: the nodes of a role, their requests summed.</summary>
/// <param name="ErrorRate">5xx answers / requests, 0..1; 0 without requests.</param>
/// <param name="P99Ms">The 99th percentile of request duration in milliseconds (±20%, from the summed buckets); null without requests.</param>
public sealed record CanaryGroup(int Nodes, long Requests, long ServerErrors, double ErrorRate, double? P99Ms);

/// <summary>The thresholds a canary is judged against, as given to `config push`.</summary>
/// <param name="MaxErrorRateIncrease">How much higher (absolute, 0..1) the canary's error rate may be than the baseline's.</param>
/// <param name="MaxP99Ratio">How many times the baseline's p99 the canary's p99 may be.</param>
/// <param name="MinRequests">Requests each side must have seen before anything is promoted.</param>
public sealed record CanaryThresholds(double MaxErrorRateIncrease, double MaxP99Ratio, TimeSpan Duration, TimeSpan Interval, long MinRequests);

/// <summary>
/// The canary's standing: written under <c>progress</c> every interval while it runs, and under <c>decision</c> when
/// it ends, so every node's admin API shows the figures and the last decision.
/// </summary>
/// <param name="Outcome">"running", "promoted" or "rolled-back".</param>
/// <param name="Reason">Why it was promoted or rolled back (which threshold, with the figures); null while running.</param>
public sealed record CanaryReading(string Id, string Outcome, string? Reason, string CandidateRevision, string BaseRevision, double SharePercent,
    IReadOnlyList<string> CanaryNodes, CanaryGroup Canary, CanaryGroup Baseline, CanaryThresholds? Thresholds, DateTimeOffset StartedAt, DateTimeOffset At);
