using System.Diagnostics;
using System.Diagnostics.Metrics;
using Meshgate.Configuration;
using Meshgate.Proxy.Observability.LiveStatistics;
using Meshgate.Proxy.Pipeline;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.Proxy.Tests.Observability.LiveStatistics;

public sealed class RouteStatisticsTests : IDisposable
{
    private const string Yaml = """
        listeners: [{ name: p, address: 127.0.0.1:8080 }]
        routes:
          - id: orders
            match: { pathPrefix: /orders }
            cluster: c
          - id: users
            match: { pathPrefix: /users }
            cluster: c
        clusters:
          - id: c
            endpoints: ["http://127.0.0.1:9"]
        """;

    private readonly WallClock _clock = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z"));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly Histogram<double> _duration;
    private readonly RouteStatistics _statistics;

    public RouteStatisticsTests()
    {
        var factory = _services.GetRequiredService<IMeterFactory>();
        var snapshot = ConfigLoader.Load(Yaml, "t.yaml", TestKit.TempDirectory.Create()).Snapshot!;
        _statistics = new RouteStatistics(new SnapshotAccessor(snapshot), factory, _clock);
        // The instrument ASP.NET Core's hosting layer records, made here through the same factory.
        _duration = factory.Create(RouteStatistics.HostingMeterName).CreateHistogram<double>(RouteStatistics.RequestDurationInstrument, "s");
    }

    public void Dispose()
    {
        _statistics.Dispose();
        _services.Dispose();
    }

    private void Request(string? route, int status, double ms)
    {
        var tags = new TagList { { "http.request.method", "GET" }, { "http.response.status_code", status } };
        if (route is not null) tags.Add(MetricsTags.Route, route);
        _duration.Record(ms / 1000, tags);
    }

    [Fact]
    public void View_KnownMix_CountsErrorsAndPercentilesPerRoute()
    {
        for (var i = 0; i < 97; i++) Request("orders", 200, 3);
        Request("orders", 404, 3);
        Request("orders", 502, 400);
        Request("orders", 503, 400);
        Request(null, 404, 1);

        var view = _statistics.View();

        var orders = view.Routes.Single(r => r.Route == "orders").LastMinute;
        Assert.Equal(100, orders.Requests);
        Assert.Equal(2, orders.ServerErrors);
        Assert.Equal(1, orders.ClientErrors);
        Assert.Equal(0.02, orders.ErrorRate);
        Assert.InRange(orders.P50Ms!.Value, 2.4, 3.6);
        Assert.InRange(orders.P99Ms!.Value, 320, 480);
        Assert.Equal(0, view.Routes.Single(r => r.Route == "users").LastMinute.Requests);
        Assert.Null(view.Routes.Single(r => r.Route == "users").LastMinute.P50Ms);
        Assert.Equal(1, view.NoRoute.LastMinute.Requests);
        Assert.Equal(100, view.Routes.Single(r => r.Route == "orders").Series.Requests[^1]);
    }

    [Fact]
    public void View_RouteNotInConfig_NotCounted()
    {
        Request("gone", 200, 1);
        var view = _statistics.View();
        Assert.DoesNotContain(view.Routes, r => r.Route == "gone");
        Assert.Equal(0, view.NoRoute.LastMinute.Requests);
    }

    [Fact]
    public void View_AfterTwoMinutes_LastMinuteEmptySeriesKeepsIt()
    {
        for (var i = 0; i < 10; i++) Request("orders", 200, 3);
        _clock.Advance(TimeSpan.FromMinutes(2));
        Request("orders", 500, 3);

        var orders = _statistics.View().Routes.Single(r => r.Route == "orders");

        Assert.Equal(1, orders.LastMinute.Requests);
        Assert.Equal(1.0, orders.LastMinute.ErrorRate);
        Assert.Equal(11, orders.Series.Requests.Sum());
        Assert.Equal(RouteStatistics.BucketCount, orders.Series.Requests.Length);
        Assert.Equal(10, orders.Series.Requests[^(1 + 24)]); // two minutes = 24 five-second buckets back
    }

    [Fact]
    public void View_After15Minutes_OldBucketsForgotten()
    {
        Request("orders", 200, 3);
        _clock.Advance(RouteStatistics.Window);
        Request("orders", 200, 3);
        Assert.Equal(1, _statistics.View().Routes.Single(r => r.Route == "orders").Series.Requests.Sum());
    }

    [Fact]
    public void View_OtherMeterFactory_NotCounted()
    {
        using var other = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var histogram = other.GetRequiredService<IMeterFactory>().Create(RouteStatistics.HostingMeterName).CreateHistogram<double>(RouteStatistics.RequestDurationInstrument, "s");
        histogram.Record(0.001, new KeyValuePair<string, object?>(MetricsTags.Route, "orders"));
        Assert.Equal(0, _statistics.View().Routes.Single(r => r.Route == "orders").LastMinute.Requests);
    }

    private sealed class WallClock(DateTimeOffset start) : TimeProvider
    {
        private long _ticks = start.UtcTicks;

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
