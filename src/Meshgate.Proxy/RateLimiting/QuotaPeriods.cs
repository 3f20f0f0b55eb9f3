using Meshgate.Configuration.Model;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>
/// A quota's calendar periods, in UTC: a day starts at 00:00 UTC, a month on the 1st at 00:00 UTC. Computed from
/// the node's clock (not Redis's) so the same code decides locally and in Redis, and a test can cross a boundary
/// with a fake clock; nodes sharing a quota need clocks in step (NTP), as any calendar quota does.
/// </summary>
internal static class QuotaPeriods
{
    /// <summary>One period: its bounds, a number that grows by one per period, and the id its Redis key carries.</summary>
    internal readonly record struct Bounds(DateTimeOffset Start, DateTimeOffset End, long Index)
    {
        public TimeSpan Length => End - Start;
    }

    public static Bounds Of(QuotaPeriod period, DateTimeOffset now)
    {
        var utc = now.UtcDateTime;
        if (period == QuotaPeriod.Month)
        {
            var month = new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
            return new(month, month.AddMonths(1), utc.Year * 12L + utc.Month - 1);
        }
        var day = new DateTimeOffset(utc.Date, TimeSpan.Zero);
        return new(day, day.AddDays(1), day.UtcTicks / TimeSpan.TicksPerDay);
    }

    /// <summary>The period's name in its Redis key: 2026-11-30 or 2026-11, readable in redis-cli.</summary>
    public static string Id(QuotaPeriod period, Bounds bounds) =>
        bounds.Start.ToString(period == QuotaPeriod.Month ? "yyyy-MM" : "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
}
