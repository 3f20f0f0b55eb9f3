namespace Meshgate.Proxy.Mirroring;

/// <summary>One route's mirror counts. Fields are updated with <see cref="Interlocked"/>.</summary>
public sealed class MirrorRouteCounts(string routeId)
{
    internal long SentCount, FailedCount, DroppedCount, SkippedCount, EqualCount, DifferentCount, StatusDifferences, HeaderDifferences, BodyDifferences;

    /// <summary>Copies queued or in flight; bounded by the route's mirror.queue.</summary>
    internal int PendingCount;

    public string RouteId { get; } = routeId;

    /// <summary>A consistent-enough copy of the counts, for the admin API.</summary>
    public object View() => new
    {
        sent = Interlocked.Read(ref SentCount),
        failed = Interlocked.Read(ref FailedCount),
        dropped = Interlocked.Read(ref DroppedCount),
        skipped = Interlocked.Read(ref SkippedCount),
        pending = Volatile.Read(ref PendingCount),
        comparedEqual = Interlocked.Read(ref EqualCount),
        comparedDifferent = Interlocked.Read(ref DifferentCount),
        differences = new
        {
            status = Interlocked.Read(ref StatusDifferences),
            headers = Interlocked.Read(ref HeaderDifferences),
            body = Interlocked.Read(ref BodyDifferences),
        },
    };
}
