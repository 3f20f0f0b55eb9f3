namespace Meshgate.Proxy.Pipeline;

/// <summary>
/// What the steps of one request learned about it, for the access log (and later the metrics).
/// The access-log step sets one on the request at entry; every other step fills its own part when
/// one is present (<c>context.Features.Get&lt;RequestRecord&gt;()?...</c>) and does nothing otherwise.
/// </summary>
public sealed class RequestRecord
{
    private int attempts;
    private long upstreamTicks;

    /// <summary>Upstream attempts made for the request (first try, retries and hedges); 0 when none was made.</summary>
    public int Attempts => Volatile.Read(ref attempts);

    /// <summary>Time spent in upstream attempts, in <see cref="System.Diagnostics.Stopwatch"/> ticks, summed.</summary>
    public long UpstreamTicks => Volatile.Read(ref upstreamTicks);

    /// <summary>Counts one upstream attempt. Safe from concurrent attempts (hedging).</summary>
    public void AddAttempt(long elapsedTicks)
    {
        Interlocked.Increment(ref attempts);
        Interlocked.Add(ref upstreamTicks, elapsedTicks);
    }

    /// <summary>The response cache's answer (hit, miss, stale, ...); null when the route has no cache.</summary>
    public string? CacheStatus { get; set; }

    /// <summary>The rate limiter's decision; null when the route has no rate limit.</summary>
    public string? RateLimit { get; set; }

    /// <summary>The fault injected into this request (abort or delay); null when none.</summary>
    public string? Fault { get; set; }
}
