namespace Meshgate.Proxy.Observability.LiveStatistics;

/// <summary>
/// One route's last 15 minutes as a ring of fixed time buckets: requests, 5xx, 4xx and a latency
/// histogram per bucket. Recording is a few interlocked increments and never allocates; a bucket is
/// cleared under a lock only when the clock first moves into it (once per bucket length).
/// </summary>
public sealed class RouteSeries
{
    internal const int Requests = 0, ServerErrors = 1, ClientErrors = 2, Histogram = 3;
    internal const int Stride = Histogram + LatencyHistogram.BucketCount;

    private readonly long[] _epochs;
    private readonly long[] _counts;
    private readonly object[] _resetLocks;

    public RouteSeries(int buckets)
    {
        _epochs = new long[buckets];
        Array.Fill(_epochs, -1);
        _counts = new long[buckets * Stride];
        _resetLocks = new object[buckets];
        for (var i = 0; i < buckets; i++) _resetLocks[i] = new object();
    }

    public int Buckets => _epochs.Length;

    /// <param name="epoch">The bucket number: time since the Unix epoch divided by the bucket length.</param>
    public void Record(long epoch, int statusCode, double milliseconds)
    {
        var slot = (int)(epoch % _epochs.Length);
        if (Volatile.Read(ref _epochs[slot]) != epoch) Reset(slot, epoch);
        var offset = slot * Stride;
        Interlocked.Increment(ref _counts[offset + Requests]);
        if (statusCode >= 500) Interlocked.Increment(ref _counts[offset + ServerErrors]);
        else if (statusCode >= 400) Interlocked.Increment(ref _counts[offset + ClientErrors]);
        Interlocked.Increment(ref _counts[offset + Histogram + LatencyHistogram.BucketOf(milliseconds)]);
    }

    private void Reset(int slot, long epoch)
    {
        lock (_resetLocks[slot])
        {
            // A late measurement from an older bucket (the clock moved on while it ran) must not wipe the newer one.
            var current = Volatile.Read(ref _epochs[slot]);
            if (current >= epoch) return;
            Array.Clear(_counts, slot * Stride, Stride);
            Volatile.Write(ref _epochs[slot], epoch);
        }
    }

    /// <summary>Copies bucket <paramref name="epoch"/>'s counters into <paramref name="into"/> (Stride long); false when it holds nothing from that time.</summary>
    internal bool TryRead(long epoch, Span<long> into)
    {
        var slot = (int)(epoch % _epochs.Length);
        if (Volatile.Read(ref _epochs[slot]) != epoch)
        {
            into.Clear();
            return false;
        }
        for (var i = 0; i < Stride; i++) into[i] = Volatile.Read(ref _counts[slot * Stride + i]);
        return true;
    }
}
