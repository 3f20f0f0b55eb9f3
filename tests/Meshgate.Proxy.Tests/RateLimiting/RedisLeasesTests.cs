using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.RateLimiting.Redis;
using Meshgate.Proxy.Tests.TestSupport;
using Meshgate.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Proxy.Tests.RateLimiting;

/// <summary>A node's leases of permits, against a real redis-server; the lease's lifetime runs on a clock the test moves.</summary>
public sealed class RedisLeasesTests : RedisStoreTestBase
{
    private static RateLimitPolicy Policy(RateLimitAlgorithm algorithm, int limit) =>
        new(algorithm.ToString(), algorithm, limit, TimeSpan.FromHours(1), 0, [new RateLimitKeyPart(RateLimitKeyKind.Route, "")], Headers: false) { Scope = RateLimitScope.Shared };

    private static int Take(RedisLeases leases, string key)
    {
        var taken = 0;
        while (leases.TryTake(key, out _)) taken++;
        return taken;
    }

    [Theory]
    [InlineData(RateLimitAlgorithm.FixedWindow)]
    [InlineData(RateLimitAlgorithm.TokenBucket)]
    [InlineData(RateLimitAlgorithm.SlidingWindow)]
    public async Task AcquireAsync_FarFromLimit_LeasesAPartOfWhatIsLeft(RateLimitAlgorithm algorithm)
    {
        var leases = new RedisLeases(Policy(algorithm, 100_000), Clock);

        var first = await leases.AcquireAsync(Store, StoreDefinition, "route:a");
        var stock = Take(leases, "route:a");

        Assert.True(first!.Value.Allowed);
        Assert.Equal(100_000 / RedisLeases.Divisor - 1, stock); // 390 granted, one of them to the first request
        Assert.Equal(100_000 - 1, first.Value.Remaining); // what the client may still send, counting the node's stock
        Assert.Equal(1, await Redis.ScriptCallsAsync());
    }

    [Fact]
    public async Task AcquireAsync_NearTheLimit_SinglePermitsThenRefused()
    {
        var leases = new RedisLeases(Policy(RateLimitAlgorithm.FixedWindow, 600), Clock);

        var allowed = 0;
        for (var i = 0; i < 700; i++)
        {
            if (leases.TryTake("route:a", out _) || (await leases.AcquireAsync(Store, StoreDefinition, "route:a"))!.Value.Allowed) allowed++;
        }

        Assert.Equal(600, allowed);
        // 600 permits: a lease of 2 while at least 512 are left, then one call per permit, and one per refusal.
        Assert.InRange(await Redis.ScriptCallsAsync(), 100 + 512, 700);
    }

    [Fact]
    public async Task Lease_WindowEnds_UnusedPermitsLapseAndAreSwept()
    {
        var leases = new RedisLeases(Policy(RateLimitAlgorithm.FixedWindow, 100_000), Clock);
        await leases.AcquireAsync(Store, StoreDefinition, "route:a");
        Assert.True(leases.TryTake("route:a", out _));

        Clock.Advance(TimeSpan.FromHours(1));

        Assert.False(leases.TryTake("route:a", out _)); // a permit of the last window is never spent in this one
        Assert.Equal(1, leases.Sweep());
        Assert.Equal(0, leases.Count);
    }

    [Fact]
    public async Task AcquireAsync_ConcurrentRequestsOnAnEmptyStock_ShareOneScriptCall()
    {
        var leases = new RedisLeases(Policy(RateLimitAlgorithm.TokenBucket, 1_000_000), Clock);

        var decisions = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(() => leases.AcquireAsync(Store, StoreDefinition, "route:a"))));

        Assert.All(decisions, d => Assert.True(d!.Value.Allowed));
        Assert.Equal(1, await Redis.ScriptCallsAsync());
    }

    [Fact]
    public async Task AcquireAsync_RedisDown_NullSoOnStoreFailureApplies()
    {
        var leases = new RedisLeases(Policy(RateLimitAlgorithm.FixedWindow, 1_000_000), Clock);
        await Redis.StopAsync();

        Assert.Null(await leases.AcquireAsync(Store, StoreDefinition, "route:a"));
        Assert.Null(await leases.AcquireAsync(Store, StoreDefinition, "route:a"));
    }
}
