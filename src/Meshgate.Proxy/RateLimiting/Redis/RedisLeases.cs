using System.Collections.Concurrent;
using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;

namespace Meshgate.Proxy.RateLimiting.Redis;

/// <summary>
/// Cheaper shared limits: this node's leases of permits from Redis, one per key of one shared policy. A script call
/// may grant a batch of permits (at most 1/<see cref="Divisor"/> of what the key has left, at most <see cref="MaxLease"/>,
/// and a single one when fewer than 2 × <see cref="Divisor"/> are left); the node then answers the next requests for that
/// key from its stock without a round trip. Concurrent requests that find the stock empty share one script call.
/// <para>
/// The error is bounded: every permit a node hands out was taken from the key in Redis first, so the nodes together
/// never allow more than the script would have. What leases cost is permits taken but not used: each node holds at
/// most one lease per key, each lease is at most 1/Divisor of what was left, so N nodes hold back at most N/Divisor of
/// the limit (under 2% for up to 5 nodes), and a lease lapses when its window ends (token bucket: after one window), so a
/// lease taken in one window is never spent in the next. A key near its limit is decided one Redis call per request,
/// exactly as without leases.
/// </para>
/// </summary>
internal sealed class RedisLeases(RateLimitPolicy policy, TimeProvider time, int maxKeys = RedisLeases.DefaultMaxKeys)
{
    public const int Divisor = 256;
    public const string DivisorText = "256";
    public const int MaxLease = 1000;
    public const int DefaultMaxKeys = 65_536;

    private readonly ConcurrentDictionary<string, Lease> _leases = new(StringComparer.Ordinal);
    private int _count;

    public RateLimitPolicy Policy { get; } = policy;

    /// <summary>Keys holding a lease on this node now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>A permit from this node's stock for <paramref name="key"/>, without Redis; false when there is none.</summary>
    public bool TryTake(string key, out RateLimitDecision decision)
    {
        decision = default;
        if (!_leases.TryGetValue(key, out var lease)) return false;
        lock (lease) return TakeLocked(lease, time.GetTimestamp(), out decision);
    }

    /// <summary>
    /// The decision for one request of <paramref name="key"/>: from the stock, else from Redis (one call shared by the
    /// requests that arrive meanwhile). Null when Redis failed or was slow: the policy's onStoreFailure applies.
    /// </summary>
    public async Task<RateLimitDecision?> AcquireAsync(RedisRateLimitStore store, RedisStoreDefinition definition, string key)
    {
        while (true)
        {
            var lease = Find(key);
            // Table full: decide this key one call per request, as without leases.
            if (lease is null) return await store.TryAcquireAsync(definition, Policy, key);

            Task<RateLimitDecision?>? pending = null;
            TaskCompletionSource<RateLimitDecision?>? mine = null;
            lock (lease)
            {
                if (lease.Removed) continue;
                if (TakeLocked(lease, time.GetTimestamp(), out var taken)) return taken;
                // Near the limit the grants are single permits: concurrent calls, as without leases, rather than a queue.
                if (!lease.Single)
                {
                    if (lease.Pending is { } waiting) pending = waiting;
                    else lease.Pending = (mine = new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }
            }

            if (pending is not null)
            {
                // Another request is fetching: its answer decides this one too if Redis refused or failed; if it brought
                // a lease, take from it (or fetch again when others took it all first).
                var answer = await pending;
                if (answer is not { Allowed: true }) return answer;
                continue;
            }

            RedisReply? reply = null;
            try
            {
                reply = await store.TryLeaseAsync(definition, Policy, key, MaxLease);
            }
            finally
            {
                lock (lease)
                {
                    if (reply is { Decision.Allowed: true } granted)
                    {
                        var now = time.GetTimestamp();
                        // What is left after this request's permit: the rest of the lease, spent before the window ends.
                        lease.Stock = (lease.ExpiresAt > now ? lease.Stock : 0) + granted.Granted - 1;
                        lease.RedisRemaining = granted.Decision.Remaining;
                        lease.ResetAt = now + Timestamps(granted.Decision.Reset);
                        lease.ExpiresAt = now + Timestamps(Policy.Algorithm == RateLimitAlgorithm.TokenBucket ? Policy.Window : granted.Decision.Reset);
                    }
                    lease.Single = reply is not { Granted: > 1 };
                    if (mine is not null) lease.Pending = null;
                }
                mine?.SetResult(reply?.Decision);
            }
            if (reply is not { } fetched) return null;
            if (!fetched.Decision.Allowed) return fetched.Decision;
            return fetched.Decision with { Remaining = fetched.Decision.Remaining + fetched.Granted - 1 };
        }
    }

    /// <summary>Drops leases that are spent or lapsed and that no request is fetching for.</summary>
    public int Sweep()
    {
        var now = time.GetTimestamp();
        var removed = 0;
        foreach (var (key, lease) in _leases)
        {
            lock (lease)
            {
                if (lease.Pending is not null || (lease.Stock > 0 && lease.ExpiresAt > now)) continue;
                lease.Removed = true;
            }
            if (_leases.TryRemove(new KeyValuePair<string, Lease>(key, lease)))
            {
                Interlocked.Decrement(ref _count);
                removed++;
            }
        }
        return removed;
    }

    private Lease? Find(string key)
    {
        if (_leases.TryGetValue(key, out var existing)) return existing;
        if (Volatile.Read(ref _count) >= maxKeys) return null;
        var created = new Lease();
        if (_leases.TryAdd(key, created))
        {
            Interlocked.Increment(ref _count);
            return created;
        }
        return _leases.TryGetValue(key, out existing) ? existing : null;
    }

    private bool TakeLocked(Lease lease, long now, out RateLimitDecision decision)
    {
        if (lease.Stock <= 0 || lease.ExpiresAt <= now)
        {
            decision = default;
            return false;
        }
        lease.Stock--;
        // As the nodes see it: what Redis had left after the grant, plus what this node still holds.
        decision = new(true, lease.RedisRemaining + lease.Stock, Span(Math.Max(0, lease.ResetAt - now)), TimeSpan.Zero);
        return true;
    }

    private long Timestamps(TimeSpan span) => (long)(span.TotalSeconds * time.TimestampFrequency);

    private TimeSpan Span(long timestamps) => TimeSpan.FromSeconds(timestamps / (double)time.TimestampFrequency);

    /// <summary>One key's lease on this node. Guarded by its own lock.</summary>
    private sealed class Lease
    {
        public bool Removed;
        public long Stock;
        public long RedisRemaining;
        public long ResetAt;
        public long ExpiresAt;
        // The last grant was one permit: the key is near its limit, so requests call Redis each, concurrently.
        public bool Single;
        public Task<RateLimitDecision?>? Pending;
    }
}
