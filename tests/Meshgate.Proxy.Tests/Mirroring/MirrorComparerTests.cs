using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Mirroring;
using Meshgate.Proxy.Tests.TestSupport;

namespace Meshgate.Proxy.Tests.Mirroring;

public sealed class MirrorComparerTests
{
    private static readonly MirrorPolicy Policy = new("orders", "orders-shadow", 1_000_000, true, ["content-type", "x-secret"], 65536, 1000, TimeSpan.FromSeconds(5));

    private static MirrorAnswer Answer(int status, string? type, string? secret, byte hash) => new(status, [type, secret], [hash]);

    [Fact]
    public void Report_Differences_CountedEveryTimeLoggedAtMostOnceASecondWithoutValues()
    {
        var statistics = new MirrorStatistics(TestMeters.Factory);
        var time = new ManualTimeProvider();
        var logger = new RecordingLogger<MirrorComparer>();
        var comparer = new MirrorComparer(statistics, time, logger);
        var counts = statistics.For("orders");

        comparer.Report(counts, Policy, "GET", "/orders/7", Answer(200, "text/plain", "token-a", 1), Answer(200, "text/plain", "token-a", 1));
        for (var i = 0; i < 10; i++)
        {
            comparer.Report(counts, Policy, "GET", "/orders/7", Answer(200, "text/plain", "token-a", 1), Answer(503, "text/plain", "token-b", 2));
        }
        time.Advance(TimeSpan.FromSeconds(1));
        comparer.Report(counts, Policy, "POST", "/orders", Answer(200, "text/plain", null, 1), Answer(200, "text/html", null, 1));

        Assert.Equal(1, counts.EqualCount);
        Assert.Equal(11, counts.DifferentCount);
        Assert.Equal(10, counts.StatusDifferences);
        Assert.Equal(11, counts.HeaderDifferences);
        Assert.Equal(10, counts.BodyDifferences);
        Assert.Equal(2, logger.Lines.Count);
        var first = logger.Lines[0].Message;
        Assert.Equal(Common.EventIds.Traffic + 21, logger.Lines[0].EventId);
        Assert.Contains("answered GET /orders/7 differently (status, headers, body): status 200 (primary) vs 503 (shadow); differing headers: [x-secret]", first, StringComparison.Ordinal);
        Assert.DoesNotContain("token-", first, StringComparison.Ordinal);
        Assert.Contains("differing headers: [content-type]", logger.Lines[1].Message, StringComparison.Ordinal);
    }
}
