namespace Meshgate.Proxy.Mirroring;

/// <summary>One route's mirror counts. Fields are updated with <see cref="Interlocked"/>.</summary>
public sealed class MirrorRouteCounts(string routeId)
{
    internal long SentCount, FailedCount, DroppedCount, SkippedCount, EqualCount, DifferentCount, StatusDifferences, HeaderDifferences, BodyDifferences;

    /// <summary>Copies queued or in flight; bounded by the route's mirror.queue.</summary>
    internal int PendingCount;

    public string RouteId { get; } = routeId;

    /// <summary>A consistent-enough copy of the counts, for the admin API.</summary>
    public MirrorCountsView View() => new(
        Interlocked.Read(ref SentCount),
        Interlocked.Read(ref FailedCount),
        Interlocked.Read(ref DroppedCount),
        Interlocked.Read(ref SkippedCount),
        Volatile.Read(ref PendingCount),
        Interlocked.Read(ref EqualCount),
        Interlocked.Read(ref DifferentCount),
        new MirrorDifferencesView(Interlocked.Read(ref StatusDifferences), Interlocked.Read(ref HeaderDifferences), Interlocked.Read(ref BodyDifferences)));
}

/// <summary>One route's mirror counts as the admin API shows them (in /admin/routes).</summary>
/// <param name="ComparedEqual">Copies whose answer matched the primary's (with mirror.compare).</param>
public sealed record MirrorCountsView(long Sent, long Failed, long Dropped, long Skipped, int Pending, long ComparedEqual, long ComparedDifferent, MirrorDifferencesView Differences);

/// <summary>Compared answers that differed, by what differed.</summary>
public sealed record MirrorDifferencesView(long Status, long Headers, long Body);
