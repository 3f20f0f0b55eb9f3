using Meshgate.Proxy.LoadBalancing;

namespace Meshgate.Proxy.Resilience.Retries;

/// <summary>
/// Exponential backoff with "equal jitter": the wait before retry n (0-based) is drawn uniformly between
/// half and all of min(max, base * 2^n). Unlike full jitter it never collapses to zero, so a retry storm
/// is always spread out by at least half the nominal wait, and the lower bound is something tests can check.
/// </summary>
internal static class Backoff
{
    public static TimeSpan Delay(TimeSpan @base, TimeSpan max, int retry, IRandomSource random)
    {
        if (@base <= TimeSpan.Zero) return TimeSpan.Zero;
        var nominal = Math.Min(max.Ticks, @base.Ticks * (1L << Math.Min(retry, 30)));
        if (nominal <= 1) return TimeSpan.FromTicks(nominal);
        var half = nominal / 2;
        return TimeSpan.FromTicks(half + random.NextInt64(nominal - half + 1));
    }
}
