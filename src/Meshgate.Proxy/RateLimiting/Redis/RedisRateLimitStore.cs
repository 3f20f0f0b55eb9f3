using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Meshgate.Proxy.RateLimiting.Redis;

/// <summary>
/// Shared limits in Redis: the node's one multiplexed connection (<see cref="Proxy.Redis.RedisConnection"/>), one script call per
/// decision. The connection reconnects by itself, so a policy falls back while Redis is away and counts in
/// Redis again as soon as it is back. A failure or a reply slower than the store's timeout yields no decision.
/// </summary>
internal sealed partial class RedisRateLimitStore(ILogger<RedisRateLimitStore> logger, TimeProvider time, Proxy.Redis.RedisConnection redis)
{
    private static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    private long _lastFailureLog = long.MinValue;
    private long _failures;
    private volatile bool _failing;

    /// <summary>Decisions that fell back because Redis failed or was slow, since the process started.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Whether the last decision through Redis failed.</summary>
    public bool Failing => _failing;

    /// <summary>Grace after a quota's period ends before its Redis key expires: room for nodes whose clocks lag a little.</summary>
    public static readonly TimeSpan QuotaGrace = TimeSpan.FromMinutes(10);

    /// <summary>The decision, or null when Redis failed or did not answer within <paramref name="store"/>'s timeout.</summary>
    /// <param name="dryRun">Decide without counting (the admin API's look at a key).</param>
    public async Task<RateLimitDecision?> TryAcquireAsync(RedisStoreDefinition store, RateLimitPolicy policy, string key, bool dryRun = false) =>
        (await TryLeaseAsync(store, policy, key, lease: 1, dryRun))?.Decision;

    /// <summary>
    /// Like <see cref="TryAcquireAsync"/>, asking for up to <paramref name="lease"/> permits at once (the script grants
    /// fewer as the key nears its limit, see <see cref="RedisScripts"/>). A quota always takes one.
    /// </summary>
    public async Task<RedisReply?> TryLeaseAsync(RedisStoreDefinition store, RateLimitPolicy policy, string key, int lease, bool dryRun = false)
    {
        try
        {
            var database = (await redis.For(store.Connection!).WaitAsync(store.Timeout, time)).GetDatabase();
            if (policy.Algorithm == RateLimitAlgorithm.Quota) return await QuotaAsync(database, store, policy, key, dryRun);
            var script = policy.Algorithm switch
            {
                RateLimitAlgorithm.TokenBucket => RedisScripts.TokenBucket,
                RateLimitAlgorithm.SlidingWindow => RedisScripts.SlidingWindow,
                _ => RedisScripts.FixedWindow,
            };
            // The hash tag keeps a key's window counters in one cluster slot.
            var result = await database.ScriptEvaluateAsync(script,
                [new RedisKey($"meshgate:rl:{{{policy.Name}:{key}}}")],
                [(long)(policy.Window.Ticks / TimeSpan.TicksPerMicrosecond), policy.Limit, policy.Burst, dryRun ? 1 : 0, lease]).WaitAsync(store.Timeout, time);
            var values = (long[])result!;
            Answered(store);
            return new RedisReply(new RateLimitDecision(values[0] == 1, values[1], TimeSpan.FromMicroseconds(values[2]), TimeSpan.FromMicroseconds(values[3])), values[4]);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException or InvalidCastException)
        {
            Interlocked.Increment(ref _failures);
            _failing = true;
            // One line per interval, however many requests fail: a Redis outage must not flood the log.
            var now = time.GetTimestamp();
            var last = Interlocked.Read(ref _lastFailureLog);
            if ((last == long.MinValue || time.GetElapsedTime(last, now) >= LogInterval) && Interlocked.CompareExchange(ref _lastFailureLog, now, last) == last)
            {
                LogFailing(store.Connection!, policy.OnStoreFailure.ToString().ToLowerInvariant(), Failures, e.Message);
            }
            return null;
        }
    }

    // The period comes from this node's clock, so a key per period; it expires shortly after the period ends.
    private async Task<RedisReply> QuotaAsync(IDatabase database, RedisStoreDefinition store, RateLimitPolicy policy, string key, bool dryRun)
    {
        var now = time.GetUtcNow();
        var period = QuotaPeriods.Of(policy.Period, now);
        var result = await database.ScriptEvaluateAsync(RedisScripts.Quota,
            [new RedisKey($"meshgate:quota:{{{policy.Name}:{key}}}:{QuotaPeriods.Id(policy.Period, period)}")],
            [policy.Limit, (period.End + QuotaGrace).ToUnixTimeMilliseconds(), dryRun ? 1 : 0]).WaitAsync(store.Timeout, time);
        var values = (long[])result!;
        Answered(store);
        var reset = period.End - now;
        return values[0] == 1
            ? new RedisReply(new RateLimitDecision(true, Math.Max(0, policy.Limit - values[1]), reset, TimeSpan.Zero), 1)
            : new RedisReply(new RateLimitDecision(false, 0, reset, reset), 0);
    }

    private void Answered(RedisStoreDefinition store)
    {
        if (!_failing) return;
        _failing = false;
        LogRecovered(store.Connection!);
    }

    /// <summary>Starts connecting before the first request needs it (called when a shared policy's endpoint is built).</summary>
    public void Warm(RedisStoreDefinition store) => redis.For(store.Connection!);

    [LoggerMessage(EventId = Common.EventIds.RateLimiting + 1, Level = LogLevel.Warning, Message = "Rate-limit store {Connection} is failing; policies apply onStoreFailure ({Mode} for this one). {Failures} decisions fell back so far. Last error: {Error}")]
    private partial void LogFailing(string connection, string mode, long failures, string error);

    [LoggerMessage(EventId = Common.EventIds.RateLimiting + 2, Level = LogLevel.Information, Message = "Rate-limit store {Connection} answers again; shared limits count in Redis")]
    private partial void LogRecovered(string connection);
}

/// <summary>A script's answer: the decision for this request, and the permits granted with it (itself included).</summary>
internal readonly record struct RedisReply(RateLimitDecision Decision, long Granted);
