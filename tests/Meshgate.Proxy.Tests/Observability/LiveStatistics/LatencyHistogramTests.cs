using Meshgate.Proxy.Observability.LiveStatistics;

namespace Meshgate.Proxy.Tests.Observability.LiveStatistics;

public sealed class LatencyHistogramTests
{
    [Theory]
    [InlineData(0.05, 0)]
    [InlineData(double.NaN, 0)]
    [InlineData(0.1, 1)]
    [InlineData(0.14, 1)]
    [InlineData(0.15, 2)]
    [InlineData(1e9, LatencyHistogram.BucketCount - 1)]
    public void BucketOf_Duration_LogScaledBucket(double ms, int bucket) => Assert.Equal(bucket, LatencyHistogram.BucketOf(ms));

    [Theory]
    [InlineData(0.3)]
    [InlineData(4.2)]
    [InlineData(87)]
    [InlineData(1500)]
    [InlineData(42_000)]
    public void ValueOf_BucketOfDuration_Within20Percent(double ms)
    {
        var reported = LatencyHistogram.ValueOf(LatencyHistogram.BucketOf(ms));
        Assert.InRange(reported / ms, 0.8, 1.2);
    }

    [Fact]
    public void Percentile_98FastAnd2Slow_P50FastP99Slow()
    {
        var counts = new long[LatencyHistogram.BucketCount];
        counts[LatencyHistogram.BucketOf(2)] = 98;
        counts[LatencyHistogram.BucketOf(800)] = 2;
        Assert.InRange(LatencyHistogram.Percentile(counts, 0.5)!.Value, 1.6, 2.4);
        Assert.InRange(LatencyHistogram.Percentile(counts, 0.99)!.Value, 640, 960);
    }

    [Fact]
    public void Percentile_NoCounts_Null() => Assert.Null(LatencyHistogram.Percentile(new long[LatencyHistogram.BucketCount], 0.5));
}
