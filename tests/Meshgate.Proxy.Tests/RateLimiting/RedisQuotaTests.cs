using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.RateLimiting.Redis;
using Meshgate.Proxy.Tests.TestSupport;
using Meshgate.TestKit;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Meshgate.Proxy.Tests.RateLimiting;

/// <summary>Shared quotas in a real redis-server, with the store's clock moved by the test across period ends.</summary>
public sealed class RedisQuotaTests : RedisStoreTestBase
{
    private static RateLimitPolicy Quota(QuotaPeriod period, int limit) =>
        new RateLimitPolicy("quota", RateLimitAlgorithm.Quota, limit, TimeSpan.Zero, 0, [new RateLimitKeyPart(RateLimitKeyKind.Consumer, "")], Headers: false) { Scope = RateLimitScope.Shared, Period = period };

    // Dates in the future: the keys expire at the period's end by Redis's real clock, so a past period would vanish at once.
    private void SetClock(DateTimeOffset to) => Clock.Advance(to - Clock.GetUtcNow());

    private async Task<int> AllowedAsync(RateLimitPolicy policy, string key, int attempts)
    {
        var allowed = 0;
        for (var i = 0; i < attempts; i++) allowed += (await Store.TryAcquireAsync(StoreDefinition, policy, key))!.Value.Allowed ? 1 : 0;
        return allowed;
    }

    [Fact]
    public async Task Day_ExactCountThenRolloverAtMidnight_KeyExpiresShortlyAfterItsDay()
    {
        var policy = Quota(QuotaPeriod.Day, 7);
        SetClock(new DateTimeOffset(2031, 6, 30, 23, 59, 0, TimeSpan.Zero));

        Assert.Equal(7, await AllowedAsync(policy, "consumer:alice", 10));
        var refused = (await Store.TryAcquireAsync(StoreDefinition, policy, "consumer:alice"))!.Value;
        Assert.Equal((false, TimeSpan.FromMinutes(1)), (refused.Allowed, refused.RetryAfter));

        await using var redis = await ConnectionMultiplexer.ConnectAsync(Redis.Connection);
        var key = "meshgate:quota:{quota:consumer:alice}:2031-06-30";
        Assert.Equal(7, (long)await redis.GetDatabase().StringGetAsync(key));
        var expires = (long)await redis.GetDatabase().ExecuteAsync("PEXPIRETIME", key);
        Assert.Equal(new DateTimeOffset(2031, 7, 1, 0, 10, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), expires);

        SetClock(new DateTimeOffset(2031, 7, 1, 0, 0, 0, TimeSpan.Zero));
        Assert.Equal(7, await AllowedAsync(policy, "consumer:alice", 10));
        Assert.Equal(7, await AllowedAsync(policy, "consumer:bob", 10));
    }

    [Fact]
    public async Task Month_LeapFebruary_CountsTheTwentyNinthThenMarchStartsAgain()
    {
        var policy = Quota(QuotaPeriod.Month, 5);
        SetClock(new DateTimeOffset(2032, 2, 28, 23, 59, 59, TimeSpan.Zero));
        Assert.Equal(3, await AllowedAsync(policy, "consumer:alice", 3));

        SetClock(new DateTimeOffset(2032, 2, 29, 12, 0, 0, TimeSpan.Zero));
        Assert.Equal(2, await AllowedAsync(policy, "consumer:alice", 4));
        var refused = (await Store.TryAcquireAsync(StoreDefinition, policy, "consumer:alice"))!.Value;
        Assert.Equal(TimeSpan.FromHours(12), refused.RetryAfter);

        SetClock(new DateTimeOffset(2032, 3, 1, 0, 0, 0, TimeSpan.Zero));
        var march = (await Store.TryAcquireAsync(StoreDefinition, policy, "consumer:alice"))!.Value;
        Assert.Equal((true, 4L, TimeSpan.FromDays(31)), (march.Allowed, march.Remaining, march.Reset));
    }

    [Fact]
    public async Task DryRun_ReportsWithoutCounting()
    {
        var policy = Quota(QuotaPeriod.Day, 4);
        SetClock(new DateTimeOffset(2031, 1, 1, 12, 0, 0, TimeSpan.Zero));
        Assert.Equal(3, await AllowedAsync(policy, "consumer:alice", 3));

        var peek = (await Store.TryAcquireAsync(StoreDefinition, policy, "consumer:alice", dryRun: true))!.Value;
        var again = (await Store.TryAcquireAsync(StoreDefinition, policy, "consumer:alice", dryRun: true))!.Value;

        Assert.Equal((true, 0L), (peek.Allowed, peek.Remaining)); // as if one more came: it would be the last
        Assert.Equal(peek, again);
        Assert.Equal(1, await AllowedAsync(policy, "consumer:alice", 3));
    }
}
