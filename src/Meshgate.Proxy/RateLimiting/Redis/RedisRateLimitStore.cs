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

    /// <summary>The decision, or null when Redis failed or did not answer within <paramref name="store"/>'s timeout.</summary>
    /// <param name="dryRun">Decide without counting (the admin API's look at a key).</param>
    public async Task<RateLimitDecision?> TryAcquireAsync(RedisStoreDefinition store, RateLimitPolicy policy, string key, bool dryRun = false)
    {
        try
        {
            var database = (await redis.For(store.Connection!).WaitAsync(store.Timeout, time)).GetDatabase();
            var script = policy.Algorithm switch
            {
                RateLimitAlgorithm.TokenBucket => RedisScripts.TokenBucket,
                RateLimitAlgorithm.SlidingWindow => RedisScripts.SlidingWindow,
                _ => RedisScripts.FixedWindow,
            };
            // The hash tag keeps a key's window counters in one cluster slot.
            var result = await database.ScriptEvaluateAsync(script,
                [new RedisKey($"meshgate:rl:{{{policy.Name}:{key}}}")],
                [(long)(policy.Window.Ticks / TimeSpan.TicksPerMicrosecond), policy.Limit, policy.Burst, dryRun ? 1 : 0]).WaitAsync(store.Timeout, time);
            var values = (long[])result!;
            if (_failing)
            {
                _failing = false;
                LogRecovered(store.Connection!);
            }
            return new RateLimitDecision(values[0] == 1, values[1], TimeSpan.FromMicroseconds(values[2]), TimeSpan.FromMicroseconds(values[3]));
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

    /// <summary>Starts connecting before the first request needs it (called when a shared policy's endpoint is built).</summary>
    public void Warm(RedisStoreDefinition store) => redis.For(store.Connection!);

    [LoggerMessage(EventId = Common.EventIds.RateLimiting + 1, Level = LogLevel.Warning, Message = "Rate-limit store {Connection} is failing; policies apply onStoreFailure ({Mode} for this one). {Failures} decisions fell back so far. Last error: {Error}")]
    private partial void LogFailing(string connection, string mode, long failures, string error);

    [LoggerMessage(EventId = Common.EventIds.RateLimiting + 2, Level = LogLevel.Information, Message = "Rate-limit store {Connection} answers again; shared limits count in Redis")]
    private partial void LogRecovered(string connection);
}
