namespace Meshgate.Proxy.Observability.LiveStatistics;

/// <summary>
/// Log-scaled latency buckets: each is √2 wider than the one before, from 0.1 ms to about 3.5 minutes,
/// so a percentile read from them is within about ±20% of the true value at any scale, in 44 counters.
/// </summary>
public static class LatencyHistogram
{
    public const int BucketCount = 44;

    /// <summary>The upper bound of bucket 0, in milliseconds.</summary>
    private const double SmallestMs = 0.1;

    /// <summary>The bucket a duration falls in: 0 below 0.1 ms, the last one for everything past the range.</summary>
    public static int BucketOf(double milliseconds)
    {
        if (!(milliseconds >= SmallestMs)) return 0; // also NaN
        var index = 1 + (int)(Math.Log2(milliseconds / SmallestMs) * 2);
        return index >= BucketCount ? BucketCount - 1 : index;
    }

    /// <summary>The value reported for a bucket: its geometric middle (the lower bound for the open-ended last one).</summary>
    public static double ValueOf(int bucket) => bucket switch
    {
        0 => SmallestMs / 2,
        BucketCount - 1 => LowerBound(bucket),
        _ => SmallestMs * Math.Pow(2, (bucket - 0.5) / 2),
    };

    public static double LowerBound(int bucket) => bucket == 0 ? 0 : SmallestMs * Math.Pow(2, (bucket - 1) / 2.0);

    /// <summary>The q-quantile (0..1) of the counts, or null when there are none.</summary>
    public static double? Percentile(ReadOnlySpan<long> counts, double q)
    {
        long total = 0;
        foreach (var c in counts) total += c;
        if (total == 0) return null;
        var rank = Math.Max(1, (long)Math.Ceiling(q * total));
        long seen = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            seen += counts[i];
            if (seen >= rank) return Math.Round(ValueOf(i), 3);
        }
        return Math.Round(ValueOf(counts.Length - 1), 3);
    }
}
