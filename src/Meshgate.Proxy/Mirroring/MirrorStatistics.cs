using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Meshgate.Proxy.Mirroring;

/// <summary>
/// Every instrument mirroring emits, and the same counts per route for the admin API. Counts survive reloads
/// (they are kept by route id) and start at 0 with the process.
/// </summary>
public sealed class MirrorStatistics
{
    private readonly ConcurrentDictionary<string, MirrorRouteCounts> _routes = new(StringComparer.OrdinalIgnoreCase);
    private readonly Counter<long> _copies;
    private readonly Counter<long> _comparisons;
    private readonly Counter<long> _differences;

    public MirrorStatistics(IMeterFactory meters)
    {
        var meter = meters.Create("Meshgate");
        _copies = meter.CreateCounter<long>("meshgate.mirror.requests", "{request}",
            "Mirror copies by route, shadow cluster and outcome: sent (the shadow answered), failed (no answer in time, no endpoint), dropped (queue full), skipped (body above maxBody or an upgrade).");
        _comparisons = meter.CreateCounter<long>("meshgate.mirror.comparisons", "{comparison}", "Compared answers by route and outcome (equal, different).");
        _differences = meter.CreateCounter<long>("meshgate.mirror.differences", "{difference}", "Differences between primary and shadow answers by route and field (status, headers, body).");
    }

    /// <summary>The counts of one route; created on first use.</summary>
    public MirrorRouteCounts For(string routeId) => _routes.GetOrAdd(routeId, static id => new MirrorRouteCounts(id));

    /// <summary>The counts of a route, or null when it has mirrored nothing yet.</summary>
    public MirrorRouteCounts? Find(string routeId) => _routes.GetValueOrDefault(routeId);

    internal void Count(MirrorRouteCounts counts, string cluster, MirrorOutcome outcome)
    {
        switch (outcome)
        {
            case MirrorOutcome.Sent: Interlocked.Increment(ref counts.SentCount); break;
            case MirrorOutcome.Failed: Interlocked.Increment(ref counts.FailedCount); break;
            case MirrorOutcome.Dropped: Interlocked.Increment(ref counts.DroppedCount); break;
            case MirrorOutcome.Skipped: Interlocked.Increment(ref counts.SkippedCount); break;
        }
        _copies.Add(1, new("route", counts.RouteId), new("cluster", cluster), new("outcome", OutcomeName(outcome)));
    }

    internal void Compared(MirrorRouteCounts counts, MirrorDifference difference)
    {
        if (difference == MirrorDifference.None)
        {
            Interlocked.Increment(ref counts.EqualCount);
            _comparisons.Add(1, new("route", counts.RouteId), new("outcome", "equal"));
            return;
        }
        Interlocked.Increment(ref counts.DifferentCount);
        _comparisons.Add(1, new("route", counts.RouteId), new("outcome", "different"));
        if (difference.HasFlag(MirrorDifference.Status)) Different(counts, ref counts.StatusDifferences, "status");
        if (difference.HasFlag(MirrorDifference.Headers)) Different(counts, ref counts.HeaderDifferences, "headers");
        if (difference.HasFlag(MirrorDifference.Body)) Different(counts, ref counts.BodyDifferences, "body");
    }

    private void Different(MirrorRouteCounts counts, ref long field, string name)
    {
        Interlocked.Increment(ref field);
        _differences.Add(1, new("route", counts.RouteId), new("field", name));
    }

    private static string OutcomeName(MirrorOutcome outcome) => outcome switch
    {
        MirrorOutcome.Sent => "sent",
        MirrorOutcome.Failed => "failed",
        MirrorOutcome.Dropped => "dropped",
        _ => "skipped",
    };
}

internal enum MirrorOutcome
{
    Sent,
    Failed,
    Dropped,
    Skipped,
}

[Flags]
internal enum MirrorDifference
{
    None = 0,
    Status = 1,
    Headers = 2,
    Body = 4,
}
