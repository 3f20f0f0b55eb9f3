using Meshgate.Configuration.Model;
using Meshgate.Proxy.RateLimiting;

namespace Meshgate.Proxy.Tests.RateLimiting;

public sealed class QuotaPeriodsTests
{
    [Theory]
    [InlineData("2026-11-30T23:59:59.999Z", "2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11-30")]
    [InlineData("2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-01")]
    [InlineData("2028-02-29T12:00:00Z", "2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z", "2028-02-29")]
    [InlineData("2026-11-30T23:30:00-05:00", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-01")] // 04:30 UTC the next day
    public void Of_Day_IsTheUtcCalendarDay(string now, string start, string end, string id)
    {
        var bounds = QuotaPeriods.Of(QuotaPeriod.Day, DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal((DateTimeOffset.Parse(start, System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.Parse(end, System.Globalization.CultureInfo.InvariantCulture)), (bounds.Start, bounds.End));
        Assert.Equal(id, QuotaPeriods.Id(QuotaPeriod.Day, bounds));
    }

    [Theory]
    [InlineData("2026-12-31T23:59:59Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", 31, "2026-12")]
    [InlineData("2027-02-14T08:00:00Z", "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z", 28, "2027-02")]
    [InlineData("2028-02-29T23:59:59Z", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z", 29, "2028-02")]
    [InlineData("2026-04-30T10:00:00Z", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", 30, "2026-04")]
    public void Of_Month_IsTheUtcCalendarMonth(string now, string start, string end, int days, string id)
    {
        var bounds = QuotaPeriods.Of(QuotaPeriod.Month, DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal((DateTimeOffset.Parse(start, System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.Parse(end, System.Globalization.CultureInfo.InvariantCulture)), (bounds.Start, bounds.End));
        Assert.Equal(TimeSpan.FromDays(days), bounds.Length);
        Assert.Equal(id, QuotaPeriods.Id(QuotaPeriod.Month, bounds));
    }

    [Fact]
    public void Of_ConsecutivePeriods_HaveConsecutiveIndexes()
    {
        var december = QuotaPeriods.Of(QuotaPeriod.Month, new DateTimeOffset(2026, 12, 31, 23, 59, 59, TimeSpan.Zero));
        var january = QuotaPeriods.Of(QuotaPeriod.Month, december.End);
        var lastDay = QuotaPeriods.Of(QuotaPeriod.Day, new DateTimeOffset(2028, 2, 28, 23, 0, 0, TimeSpan.Zero));
        var leapDay = QuotaPeriods.Of(QuotaPeriod.Day, lastDay.End);

        Assert.Equal(december.Index + 1, january.Index);
        Assert.Equal(lastDay.Index + 1, leapDay.Index);
    }
}
