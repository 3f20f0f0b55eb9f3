using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.RateLimiting.Local;
using Meshgate.Proxy.Tests.TestSupport;

namespace Meshgate.Proxy.Tests.RateLimiting;

/// <summary>Local quotas (the local limiter's quota algorithm) over calendar periods, with a clock the test moves.</summary>
public sealed class LocalQuotaTests
{
    private readonly ManualClock _clock = new();

    private LocalRateLimiter Quota(QuotaPeriod period, int limit) =>
        new(new RateLimitPolicy("quota", RateLimitAlgorithm.Quota, limit, TimeSpan.Zero, 0, [new RateLimitKeyPart(RateLimitKeyKind.Consumer, "")], Headers: false) { Period = period }, _clock);

    private void SetClock(DateTimeOffset to) => _clock.Advance(to - _clock.GetUtcNow());

    private static int Allowed(LocalRateLimiter limiter, string key, int attempts)
    {
        var allowed = 0;
        for (var i = 0; i < attempts; i++) allowed += limiter.Acquire(key, out _).Allowed ? 1 : 0;
        return allowed;
    }

    [Fact]
    public void Day_UsedUpBeforeMidnight_RefusedUntilMidnightThenWhole()
    {
        var limiter = Quota(QuotaPeriod.Day, 5);
        SetClock(new DateTimeOffset(2026, 11, 30, 23, 59, 50, TimeSpan.Zero));
        Assert.Equal(5, Allowed(limiter, "consumer:alice", 8));

        var refused = limiter.Acquire("consumer:alice", out _);
        Assert.Equal((false, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10)), (refused.Allowed, refused.RetryAfter, refused.Reset));
        _clock.Advance(TimeSpan.FromSeconds(9.999));
        Assert.Equal(0, Allowed(limiter, "consumer:alice", 1));

        _clock.Advance(TimeSpan.FromMilliseconds(1)); // 2026-12-01T00:00:00Z
        var first = limiter.Acquire("consumer:alice", out _);
        Assert.Equal((true, 4L, TimeSpan.FromDays(1)), (first.Allowed, first.Remaining, first.Reset));
        Assert.Equal(4, Allowed(limiter, "consumer:alice", 10));
    }

    [Fact]
    public void Day_Keys_CountedApart()
    {
        var limiter = Quota(QuotaPeriod.Day, 3);

        Assert.Equal((3, 3, 0), (Allowed(limiter, "consumer:alice", 5), Allowed(limiter, "consumer:bob", 5), Allowed(limiter, "consumer:alice", 1)));
    }

    [Fact]
    public void Month_LeapFebruary_LastsUntilMarchFirst()
    {
        var limiter = Quota(QuotaPeriod.Month, 100);
        SetClock(new DateTimeOffset(2028, 2, 1, 0, 0, 0, TimeSpan.Zero));
        Assert.Equal(60, Allowed(limiter, "consumer:alice", 60));

        // February 28th is not the end in a leap year: the 29th still counts in February.
        SetClock(new DateTimeOffset(2028, 2, 29, 23, 0, 0, TimeSpan.Zero));
        Assert.Equal(40, Allowed(limiter, "consumer:alice", 50));
        var refused = limiter.Acquire("consumer:alice", out _);
        Assert.Equal((false, TimeSpan.FromHours(1)), (refused.Allowed, refused.RetryAfter));

        SetClock(new DateTimeOffset(2028, 3, 1, 0, 0, 0, TimeSpan.Zero));
        Assert.Equal(100, Allowed(limiter, "consumer:alice", 120));
    }

    [Fact]
    public void Month_YearEnd_RollsIntoJanuary()
    {
        var limiter = Quota(QuotaPeriod.Month, 2);
        SetClock(new DateTimeOffset(2026, 12, 31, 23, 59, 59, TimeSpan.Zero));
        Assert.Equal(2, Allowed(limiter, "consumer:alice", 3));

        _clock.Advance(TimeSpan.FromSeconds(1));
        var january = limiter.Acquire("consumer:alice", out _);
        Assert.Equal((true, 1L, TimeSpan.FromDays(31)), (january.Allowed, january.Remaining, january.Reset));
    }

    [Fact]
    public void Sweep_KeepsTheCurrentPeriodsCountsAndDropsOldOnes()
    {
        var limiter = Quota(QuotaPeriod.Day, 2);
        Assert.Equal(2, Allowed(limiter, "consumer:alice", 2));

        Assert.Equal(0, limiter.Sweep());
        Assert.Equal(0, Allowed(limiter, "consumer:alice", 1));
        _clock.Advance(TimeSpan.FromDays(1));
        Assert.Equal(1, limiter.Sweep());
        Assert.Equal(0, limiter.PartitionCount);
    }
}
