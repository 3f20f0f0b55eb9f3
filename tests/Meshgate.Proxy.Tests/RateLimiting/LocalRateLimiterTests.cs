using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.RateLimiting.Local;
using Meshgate.Proxy.Tests.TestSupport;

namespace Meshgate.Proxy.Tests.RateLimiting;

public sealed class LocalRateLimiterTests
{
    private readonly ManualClock _clock = new();

    private LocalRateLimiter Limiter(RateLimitAlgorithm algorithm, int limit, TimeSpan window, int burst = 0, int maxPartitions = LocalRateLimiter.DefaultMaxPartitions) =>
        new(new RateLimitPolicy("test", algorithm, limit, window, burst, [new RateLimitKeyPart(RateLimitKeyKind.ClientIp, "")], Headers: false), _clock, maxPartitions);

    private static int Allowed(LocalRateLimiter limiter, string key, int attempts)
    {
        var allowed = 0;
        for (var i = 0; i < attempts; i++) allowed += limiter.Acquire(key, out _).Allowed ? 1 : 0;
        return allowed;
    }

    [Theory]
    [InlineData(RateLimitAlgorithm.FixedWindow)]
    [InlineData(RateLimitAlgorithm.SlidingWindow)]
    [InlineData(RateLimitAlgorithm.TokenBucket)]
    public void Acquire_ManyAtOnce_AllowsExactlyLimit(RateLimitAlgorithm algorithm)
    {
        var limiter = Limiter(algorithm, 10, TimeSpan.FromSeconds(1));

        Assert.Equal(10, Allowed(limiter, "a", 25));
    }

    [Fact]
    public void FixedWindow_NextWindow_AllowsLimitAgain()
    {
        var limiter = Limiter(RateLimitAlgorithm.FixedWindow, 5, TimeSpan.FromSeconds(1));
        Assert.Equal(5, Allowed(limiter, "a", 8));

        _clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(0, Allowed(limiter, "a", 3));
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(5, Allowed(limiter, "a", 8));
    }

    [Fact]
    public void WindowEdge_FixedAllowsDoubleAcrossEdge_SlidingDoesNot()
    {
        var window = TimeSpan.FromSeconds(10);
        var fixedWindow = Limiter(RateLimitAlgorithm.FixedWindow, 10, window);
        var sliding = Limiter(RateLimitAlgorithm.SlidingWindow, 10, window);

        // Quiet for most of the first window, then a burst just before and just after its end.
        _clock.Advance(TimeSpan.FromSeconds(9.9));
        var fixedBefore = Allowed(fixedWindow, "a", 10);
        var slidingBefore = Allowed(sliding, "a", 10);
        _clock.Advance(TimeSpan.FromSeconds(0.2));
        var fixedAfter = Allowed(fixedWindow, "a", 10);
        var slidingAfter = Allowed(sliding, "a", 10);

        Assert.Equal((10, 10), (fixedBefore, fixedAfter)); // 20 within 0.2s: the fixed window's known weakness
        Assert.Equal(10, slidingBefore);
        Assert.Equal(0, slidingAfter); // the previous window still weighs 98%: no room
    }

    [Fact]
    public void SlidingWindow_PreviousWindowFades_RoomGrowsInProportion()
    {
        var limiter = Limiter(RateLimitAlgorithm.SlidingWindow, 10, TimeSpan.FromSeconds(10));
        Assert.Equal(10, Allowed(limiter, "a", 10));

        _clock.Advance(TimeSpan.FromSeconds(15)); // half into the next window: the previous 10 weigh 5
        Assert.Equal(5, Allowed(limiter, "a", 10));
        _clock.Advance(TimeSpan.FromSeconds(10)); // two windows on: 5 in the previous, half-weighted
        Assert.Equal(7, Allowed(limiter, "a", 10)); // 2.5 + 7 ≤ 10 < 2.5 + 8
    }

    [Fact]
    public void SlidingWindow_Denied_RetryAfterIsWhenRoomReturns()
    {
        var limiter = Limiter(RateLimitAlgorithm.SlidingWindow, 10, TimeSpan.FromSeconds(10));
        Allowed(limiter, "a", 10);
        _clock.Advance(TimeSpan.FromSeconds(10));

        var denied = limiter.Acquire("a", out _); // the previous window still weighs 100%

        Assert.False(denied.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(1), denied.RetryAfter); // after 1s it weighs 90%: room for one
        _clock.Advance(denied.RetryAfter);
        Assert.True(limiter.Acquire("a", out _).Allowed);
        Assert.False(limiter.Acquire("a", out _).Allowed);
    }

    [Fact]
    public void TokenBucket_Burst_AllowsLimitPlusBurstThenRefillsAtRate()
    {
        var limiter = Limiter(RateLimitAlgorithm.TokenBucket, 10, TimeSpan.FromSeconds(1), burst: 5);

        Assert.Equal(15, Allowed(limiter, "a", 30));
        _clock.Advance(TimeSpan.FromMilliseconds(100)); // one token per 100ms
        Assert.Equal(1, Allowed(limiter, "a", 5));
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(5, Allowed(limiter, "a", 10));
        _clock.Advance(TimeSpan.FromSeconds(60)); // refills to the bucket's size, not beyond
        Assert.Equal(15, Allowed(limiter, "a", 30));
    }

    [Fact]
    public void TokenBucket_HighLimitAfterLongIdle_StillAllows()
    {
        // Found by the benchmark: a limit too high to trigger refused every request after a pause,
        // because elapsed time times the limit overflowed.
        var limiter = Limiter(RateLimitAlgorithm.TokenBucket, 100_000_000, TimeSpan.FromSeconds(1));
        Assert.Equal(10, Allowed(limiter, "a", 10));

        _clock.Advance(TimeSpan.FromDays(1));

        Assert.Equal(10, Allowed(limiter, "a", 10));
    }

    [Fact]
    public void TokenBucket_Denied_RetryAfterIsOneTokenAway()
    {
        var limiter = Limiter(RateLimitAlgorithm.TokenBucket, 4, TimeSpan.FromSeconds(1));
        Allowed(limiter, "a", 4);

        var denied = limiter.Acquire("a", out _);

        Assert.False(denied.Allowed);
        Assert.Equal(TimeSpan.FromMilliseconds(250), denied.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(1), denied.Reset);
        _clock.Advance(denied.RetryAfter);
        Assert.True(limiter.Acquire("a", out _).Allowed);
    }

    [Fact]
    public void Acquire_DistinctKeys_CountSeparately()
    {
        var limiter = Limiter(RateLimitAlgorithm.FixedWindow, 3, TimeSpan.FromMinutes(1));

        Assert.Equal(3, Allowed(limiter, "a", 5));
        Assert.Equal(3, Allowed(limiter, "b", 5));
        Assert.Equal(0, Allowed(limiter, "a", 5));
    }

    [Fact]
    public void FixedWindow_Remaining_CountsDown()
    {
        var limiter = Limiter(RateLimitAlgorithm.FixedWindow, 3, TimeSpan.FromSeconds(10));
        _clock.Advance(TimeSpan.FromSeconds(4));

        var decisions = Enumerable.Range(0, 4).Select(i => limiter.Acquire("a", out _)).ToList();

        Assert.Equal([2L, 1, 0, 0], decisions.Select(d => d.Remaining));
        Assert.All(decisions, d => Assert.Equal(TimeSpan.FromSeconds(6), d.Reset));
        Assert.Equal(TimeSpan.FromSeconds(6), decisions[3].RetryAfter);
    }

    [Fact]
    public void Concurrency_ReleaseGivesRoomBack()
    {
        var limiter = Limiter(RateLimitAlgorithm.Concurrency, 2, TimeSpan.Zero);

        Assert.True(limiter.Acquire("a", out var first).Allowed);
        Assert.True(limiter.Acquire("a", out _).Allowed);
        Assert.False(limiter.Acquire("a", out _).Allowed);
        Assert.True(limiter.Acquire("b", out _).Allowed);
        LocalRateLimiter.Release(first);
        Assert.True(limiter.Acquire("a", out _).Allowed);
        Assert.False(limiter.Acquire("a", out _).Allowed);
    }

    [Fact]
    public void Sweep_DropsOnlyPartitionsWithNothingToRemember()
    {
        var limiter = Limiter(RateLimitAlgorithm.FixedWindow, 3, TimeSpan.FromSeconds(10));
        Allowed(limiter, "old", 3);
        _clock.Advance(TimeSpan.FromSeconds(10));
        Allowed(limiter, "new", 3);

        Assert.Equal(1, limiter.Sweep());
        Assert.Equal(1, limiter.PartitionCount);
        Assert.Equal(0, Allowed(limiter, "new", 1)); // the live partition kept its count
        Assert.Equal(3, Allowed(limiter, "old", 5));
    }

    [Fact]
    public void Concurrency_Sweep_KeepsPartitionsWithRequestsInFlight()
    {
        var limiter = Limiter(RateLimitAlgorithm.Concurrency, 1, TimeSpan.Zero);
        limiter.Acquire("busy", out _);
        limiter.Acquire("done", out var done);
        LocalRateLimiter.Release(done);

        Assert.Equal(1, limiter.Sweep());
        Assert.False(limiter.Acquire("busy", out _).Allowed);
    }

    [Fact]
    public void Acquire_FullTable_NewKeysShareOverflowPartition()
    {
        var limiter = Limiter(RateLimitAlgorithm.FixedWindow, 5, TimeSpan.FromMinutes(1), maxPartitions: 100);
        for (var i = 0; i < 100; i++) limiter.Acquire($"k{i}", out _);

        var overflowAllowed = 0;
        for (var i = 100; i < 200; i++) overflowAllowed += limiter.Acquire($"k{i}", out _).Allowed ? 1 : 0;

        Assert.Equal(100, limiter.PartitionCount);
        Assert.Equal(5, overflowAllowed); // the 100 new keys share one limit
        Assert.Equal(100, limiter.Overflowed);
        Assert.Equal(4, Allowed(limiter, "k0", 10)); // tracked keys keep their own
    }

    [Fact]
    public void Acquire_FullTableOfIdleKeys_SweepsAndTracksNewKeys()
    {
        var limiter = Limiter(RateLimitAlgorithm.TokenBucket, 5, TimeSpan.FromSeconds(1), maxPartitions: 100);
        for (var i = 0; i < 100; i++) limiter.Acquire($"k{i}", out _);
        _clock.Advance(TimeSpan.FromSeconds(2)); // every bucket is full again

        Assert.Equal(5, Allowed(limiter, "fresh", 10));
        Assert.Equal(0, limiter.Overflowed);
        Assert.Equal(1, limiter.PartitionCount);
    }

    [Fact]
    public void Acquire_FloodOfDistinctKeys_MemoryStaysBounded()
    {
        var limiter = Limiter(RateLimitAlgorithm.TokenBucket, 100, TimeSpan.FromMinutes(1));
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);

        for (var i = 0; i < 100_000; i++) limiter.Acquire("10.0." + i, out _);
        var afterFirst = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < 100_000; i++) limiter.Acquire("10.1." + i, out _);
        var afterSecond = GC.GetTotalMemory(forceFullCollection: true);

        Assert.Equal(LocalRateLimiter.DefaultMaxPartitions, limiter.PartitionCount);
        Assert.True(limiter.Overflowed >= 100_000, $"overflowed {limiter.Overflowed}");
        // ~65k partitions: a key string, a partition and a table node each, well under 200 bytes apiece.
        Assert.True(afterFirst - before < 32L * 1024 * 1024, $"grew {(afterFirst - before) / 1024} KiB for the first 100,000 keys");
        Assert.True(afterSecond - afterFirst < 4L * 1024 * 1024, $"grew {(afterSecond - afterFirst) / 1024} KiB for 100,000 more keys past the cap");
        GC.KeepAlive(limiter);
    }
}
