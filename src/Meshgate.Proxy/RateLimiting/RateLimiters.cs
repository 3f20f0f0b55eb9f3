using System.Collections.Concurrent;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.RateLimiting.Local;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>
/// The node's limiters, one per policy. A reload that keeps a policy's counting settings keeps its counters
/// (the limiter is found again by <see cref="RateLimitPolicy.Fingerprint"/>), so a config change does not reset limits.
/// A timer sweeps idle partitions, and drops limiters left with none that no request has used since the last sweep.
/// </summary>
internal sealed class RateLimiters : IDisposable
{
    public static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, Entry> _limiters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, LeaseEntry> _leases = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ITimer _timer;

    public RateLimiters(TimeProvider time)
    {
        _time = time;
        _timer = time.CreateTimer(_ => Sweep(), null, SweepInterval, SweepInterval);
    }

    /// <summary>The limiter for <paramref name="policy"/>; called when endpoints are built, never per request.</summary>
    public LocalRateLimiter For(RateLimitPolicy policy, string purpose = "local")
    {
        var entry = _limiters.GetOrAdd(purpose + "|" + policy.Fingerprint, _ => new Entry(new LocalRateLimiter(policy, _time)));
        entry.Referenced = true;
        return entry.Limiter;
    }

    /// <summary>The node's leases of permits for a shared <paramref name="policy"/>; called when endpoints are built.</summary>
    public Redis.RedisLeases LeasesFor(RateLimitPolicy policy)
    {
        var entry = _leases.GetOrAdd(policy.Fingerprint, _ => new LeaseEntry(new Redis.RedisLeases(policy, _time)));
        entry.Referenced = true;
        return entry.Leases;
    }

    /// <summary>The limiters in use, for the admin API.</summary>
    public IEnumerable<LocalRateLimiter> All => _limiters.Values.Select(e => e.Limiter);

    public void Sweep()
    {
        foreach (var (fingerprint, entry) in _limiters)
        {
            entry.Limiter.Sweep();
            if (entry.Limiter.PartitionCount == 0 && !entry.Referenced) _limiters.TryRemove(new KeyValuePair<string, Entry>(fingerprint, entry));
            entry.Referenced = false;
        }
        foreach (var (fingerprint, entry) in _leases)
        {
            entry.Leases.Sweep();
            if (entry.Leases.Count == 0 && !entry.Referenced) _leases.TryRemove(new KeyValuePair<string, LeaseEntry>(fingerprint, entry));
            entry.Referenced = false;
        }
    }

    public void Dispose() => _timer.Dispose();

    private sealed class LeaseEntry(Redis.RedisLeases leases)
    {
        public Redis.RedisLeases Leases { get; } = leases;
        public volatile bool Referenced;
    }

    private sealed class Entry(LocalRateLimiter limiter)
    {
        public LocalRateLimiter Limiter { get; } = limiter;
        public volatile bool Referenced;
    }
}
