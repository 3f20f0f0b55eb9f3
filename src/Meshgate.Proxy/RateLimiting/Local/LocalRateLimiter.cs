using System.Collections.Concurrent;
using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;

namespace Meshgate.Proxy.RateLimiting.Local;

/// <summary>
/// One policy's counters on this node, one partition per key. Windows are computed from the injected
/// <see cref="TimeProvider"/> rather than by System.Threading.RateLimiting's limiters, whose replenishment reads
/// the system clock; the arithmetic is the same the shared (Redis) scripts use, so local and shared limits agree.
/// Memory is bounded twice: partitions that hold nothing a fresh one would not (a full bucket, an expired
/// window, nothing in flight) are swept, and past <see cref="MaxPartitions"/> new keys share one overflow partition.
/// </summary>
internal sealed class LocalRateLimiter
{
    /// <summary>Keys one policy tracks at most on a node; a flood of distinct keys beyond it shares one partition.</summary>
    public const int DefaultMaxPartitions = 65_536;

    // Doubles with a small tolerance: a window split into limit parts is rarely a whole number of ticks.
    private const double Epsilon = 1e-9;

    private readonly ConcurrentDictionary<string, Partition> _partitions = new(StringComparer.Ordinal);
    private readonly Partition _overflow = new();
    private readonly TimeProvider _time;
    private readonly long _origin;
    private readonly double _windowTimestamps;
    private readonly double _timestampsPerSecond;
    private int _count;
    private long _lastSweep;
    private long _overflowed;

    public LocalRateLimiter(RateLimitPolicy policy, TimeProvider time, int maxPartitions = DefaultMaxPartitions)
    {
        Policy = policy;
        MaxPartitions = maxPartitions;
        _time = time;
        _origin = time.GetTimestamp();
        _timestampsPerSecond = time.TimestampFrequency;
        _windowTimestamps = policy.Window.TotalSeconds * _timestampsPerSecond;
    }

    public RateLimitPolicy Policy { get; }
    public int MaxPartitions { get; }

    /// <summary>Keys tracked now.</summary>
    public int PartitionCount => Volatile.Read(ref _count);

    /// <summary>Decisions made in the overflow partition because the table was full.</summary>
    public long Overflowed => Interlocked.Read(ref _overflowed);

    /// <summary>Counts one request for <paramref name="key"/>. For concurrency, an allowed request must be released on <paramref name="partition"/>.</summary>
    public RateLimitDecision Acquire(string key, out Partition partition)
    {
        var now = _time.GetTimestamp() - _origin;
        while (true)
        {
            partition = Find(key, now);
            lock (partition)
            {
                if (partition.Removed) continue; // swept between lookup and lock: take the new one
                return Policy.Algorithm switch
                {
                    RateLimitAlgorithm.TokenBucket => TokenBucket(partition, now),
                    RateLimitAlgorithm.FixedWindow => FixedWindow(partition, now),
                    RateLimitAlgorithm.SlidingWindow => SlidingWindow(partition, now),
                    RateLimitAlgorithm.Quota => Quota(partition),
                    _ => Concurrency(partition),
                };
            }
        }
    }

    /// <summary>What <see cref="Acquire"/> would decide for <paramref name="key"/> now, without counting (for the admin API).</summary>
    public RateLimitDecision Peek(string key)
    {
        var now = _time.GetTimestamp() - _origin;
        var copy = new Partition();
        if (_partitions.TryGetValue(key, out var partition))
        {
            lock (partition) copy = partition.Copy();
        }
        return Policy.Algorithm switch
        {
            RateLimitAlgorithm.TokenBucket => TokenBucket(copy, now),
            RateLimitAlgorithm.FixedWindow => FixedWindow(copy, now),
            RateLimitAlgorithm.SlidingWindow => SlidingWindow(copy, now),
            RateLimitAlgorithm.Quota => Quota(copy),
            _ => Concurrency(copy),
        };
    }

    public static void Release(Partition partition)
    {
        lock (partition) partition.InFlight--;
    }

    /// <summary>Drops the partitions that hold no state a fresh one would not; returns how many.</summary>
    public int Sweep()
    {
        var now = _time.GetTimestamp() - _origin;
        Volatile.Write(ref _lastSweep, now);
        var removed = 0;
        foreach (var (key, partition) in _partitions)
        {
            lock (partition)
            {
                if (!IsIdle(partition, now)) continue;
                partition.Removed = true;
            }
            if (_partitions.TryRemove(new KeyValuePair<string, Partition>(key, partition)))
            {
                Interlocked.Decrement(ref _count);
                removed++;
            }
        }
        return removed;
    }

    private Partition Find(string key, long now)
    {
        while (true)
        {
            if (_partitions.TryGetValue(key, out var existing)) return existing;
            if (Volatile.Read(ref _count) >= MaxPartitions)
            {
                // Full: sweep at most once a second (a sweep walks the whole table), then share the overflow partition.
                var last = Volatile.Read(ref _lastSweep);
                if (now - last >= _timestampsPerSecond && Interlocked.CompareExchange(ref _lastSweep, now, last) == last) Sweep();
                if (Volatile.Read(ref _count) >= MaxPartitions)
                {
                    Interlocked.Increment(ref _overflowed);
                    return _overflow;
                }
            }
            var created = new Partition();
            if (_partitions.TryAdd(key, created))
            {
                Interlocked.Increment(ref _count);
                return created;
            }
        }
    }

    private bool IsIdle(Partition p, long now) => Policy.Algorithm switch
    {
        RateLimitAlgorithm.TokenBucket => !p.Started || Refilled(p, now) >= Policy.Limit + Policy.Burst - Epsilon,
        RateLimitAlgorithm.FixedWindow => WindowIndex(now) > p.WindowIndex,
        RateLimitAlgorithm.SlidingWindow => WindowIndex(now) > p.WindowIndex + 1,
        RateLimitAlgorithm.Quota => !p.Started || QuotaPeriods.Of(Policy.Period, _time.GetUtcNow()).Index > p.WindowIndex,
        _ => p.InFlight == 0,
    };

    // Token bucket: holds limit + burst, refills limit per window continuously (the GCRA's behaviour).
    private double Refilled(Partition p, long now)
    {
        var capacity = Policy.Limit + Policy.Burst;
        if (!p.Started) return capacity;
        // In double: elapsed timestamps times a large limit overflows a long after a long idle time
        // (1e8 per second after about 90 s at Stopwatch resolution), which would refuse the key for good.
        return Math.Min(capacity, p.Tokens + (double)(now - p.Last) * Policy.Limit / _windowTimestamps);
    }

    private RateLimitDecision TokenBucket(Partition p, long now)
    {
        var capacity = Policy.Limit + Policy.Burst;
        p.Tokens = Refilled(p, now);
        p.Last = now;
        p.Started = true;
        var perToken = _windowTimestamps / Policy.Limit;
        if (p.Tokens >= 1 - Epsilon)
        {
            p.Tokens = Math.Max(0, p.Tokens - 1);
            return new(true, (long)(p.Tokens + Epsilon), Span((capacity - p.Tokens) * perToken), TimeSpan.Zero);
        }
        return new(false, 0, Span((capacity - p.Tokens) * perToken), Span((1 - p.Tokens) * perToken));
    }

    private long WindowIndex(long now) => (long)(now / _windowTimestamps);

    private void Roll(Partition p, long index)
    {
        if (index == p.WindowIndex) return;
        p.Previous = index == p.WindowIndex + 1 ? p.Current : 0;
        p.Current = 0;
        p.WindowIndex = index;
    }

    private RateLimitDecision FixedWindow(Partition p, long now)
    {
        var index = WindowIndex(now);
        Roll(p, index);
        var reset = Span((index + 1) * _windowTimestamps - now);
        if (p.Current < Policy.Limit)
        {
            p.Current++;
            return new(true, Policy.Limit - p.Current, reset, TimeSpan.Zero);
        }
        return new(false, 0, reset, reset);
    }

    // Sliding window: the previous window's count, weighted by how much of it still overlaps the last window-length, plus this window's.
    private RateLimitDecision SlidingWindow(Partition p, long now)
    {
        var index = WindowIndex(now);
        Roll(p, index);
        var elapsed = now - index * _windowTimestamps;
        var estimate = p.Previous * (1 - elapsed / _windowTimestamps) + p.Current;
        var reset = Span(_windowTimestamps - elapsed);
        if (estimate + 1 <= Policy.Limit + Epsilon)
        {
            p.Current++;
            return new(true, (long)Math.Max(0, Policy.Limit - estimate - 1 + Epsilon), reset, TimeSpan.Zero);
        }
        // When will the estimate have room for one more? Either the previous window's share fades enough in
        // this window, or this window's count becomes the fading one in the next.
        var room = Policy.Limit - 1 - p.Current;
        var wait = p.Previous > 0 && room >= 0
            ? _windowTimestamps * (1 - room / (double)p.Previous) - elapsed
            : _windowTimestamps - elapsed + _windowTimestamps * Math.Max(0, 1 - (Policy.Limit - 1) / (double)p.Current);
        return new(false, 0, reset, Span(Math.Max(0, wait)));
    }

    // Quota: a count per calendar period (UTC), by the wall clock, since periods are calendar days and months.
    private RateLimitDecision Quota(Partition p)
    {
        var now = _time.GetUtcNow();
        var period = QuotaPeriods.Of(Policy.Period, now);
        if (!p.Started || period.Index != p.WindowIndex)
        {
            p.Started = true;
            p.WindowIndex = period.Index;
            p.Current = 0;
        }
        var reset = period.End - now;
        if (p.Current < Policy.Limit)
        {
            p.Current++;
            return new(true, Policy.Limit - p.Current, reset, TimeSpan.Zero);
        }
        return new(false, 0, reset, reset);
    }

    private RateLimitDecision Concurrency(Partition p)
    {
        if (p.InFlight < Policy.Limit)
        {
            p.InFlight++;
            return new(true, Policy.Limit - p.InFlight, TimeSpan.Zero, TimeSpan.Zero);
        }
        return new(false, 0, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }

    // To the nearest tick: the doubles' error would otherwise turn 1s into 0.9999999s.
    private TimeSpan Span(double timestamps) => TimeSpan.FromTicks((long)Math.Round(timestamps / _timestampsPerSecond * TimeSpan.TicksPerSecond));

    /// <summary>One key's state; the algorithm in use decides which fields mean something. Guarded by its own lock.</summary>
    internal sealed class Partition
    {
        public bool Removed;
        public bool Started;
        public double Tokens;
        public long Last;
        public long WindowIndex;
        public long Current;
        public long Previous;
        public int InFlight;

        public Partition Copy() => (Partition)MemberwiseClone();
    }
}
