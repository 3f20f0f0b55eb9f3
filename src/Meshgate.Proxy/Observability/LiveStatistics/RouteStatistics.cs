using System.Diagnostics.Metrics;
using Meshgate.Proxy.Pipeline;

namespace Meshgate.Proxy.Observability.LiveStatistics;

/// <summary>
/// Live per-route figures for the dashboard, <c>GET /admin/stats</c> and <c>meshgate top</c>: the last
/// 15 minutes in 5-second buckets. It listens to ASP.NET Core's own <c>http.server.request.duration</c>
/// (of this gateway's meter factory only, so two gateways in one process stay apart) and reads the
/// route id the routing step adds as a tag; it keeps no timer of its own.
/// </summary>
public sealed class RouteStatistics : IDisposable
{
    public const string HostingMeterName = "Microsoft.AspNetCore.Hosting";
    public const string RequestDurationInstrument = "http.server.request.duration";
    public static readonly TimeSpan BucketLength = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(15);
    public static readonly int BucketCount = (int)(Window / BucketLength);

    /// <summary>The last minute: the current bucket and the eleven before it.</summary>
    private static readonly int LastMinuteBuckets = (int)(TimeSpan.FromMinutes(1) / BucketLength);

    private readonly SnapshotAccessor _snapshots;
    private readonly TimeProvider _time;
    private readonly MeterListener _listener;
    private readonly RouteSeries _noRoute = new(BucketCount);
    private readonly object _addLock = new();

    // Copy-on-write: the measurement path reads a dictionary nobody mutates; a new route swaps in a copy.
    private volatile Dictionary<string, RouteSeries> _routes = new(StringComparer.Ordinal);

    /// <param name="meterFactory">The gateway app's meter factory: only its hosting meter is read.</param>
    public RouteStatistics(SnapshotAccessor snapshots, IMeterFactory meterFactory, TimeProvider time)
    {
        _snapshots = snapshots;
        _time = time;
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == HostingMeterName && instrument.Name == RequestDurationInstrument && ReferenceEquals(instrument.Meter.Scope, meterFactory))
                {
                    listener.EnableMeasurementEvents(instrument, this);
                }
            },
        };
        _listener.SetMeasurementEventCallback<double>(static (_, seconds, tags, state) => ((RouteStatistics)state!).Record(seconds, tags));
        _listener.Start();
    }

    private void Record(double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? route = null;
        var status = 0;
        foreach (var tag in tags)
        {
            if (tag.Key == MetricsTags.Route) route = tag.Value as string;
            else if (tag.Key == "http.response.status_code" && tag.Value is int code) status = code;
        }
        var series = route is null ? _noRoute : (_routes.TryGetValue(route, out var known) ? known : Add(route));
        series?.Record(CurrentEpoch(), status, seconds * 1000);
    }

    /// <summary>Starts a series for a route the running config has; null for any other id, so memory stays bounded by the config.</summary>
    private RouteSeries? Add(string route)
    {
        if (!_snapshots.Current.Routes.Any(r => r.RouteId == route)) return null;
        lock (_addLock)
        {
            if (_routes.TryGetValue(route, out var existing)) return existing;
            var series = new RouteSeries(BucketCount);
            _routes = new Dictionary<string, RouteSeries>(_routes, StringComparer.Ordinal) { [route] = series };
            return series;
        }
    }

    private long CurrentEpoch() => _time.GetUtcNow().ToUnixTimeMilliseconds() / (long)BucketLength.TotalMilliseconds;

    /// <summary>Every route of the running config (in config order, with zeros where nothing came) and the "no route" series.</summary>
    public RouteStatisticsView View()
    {
        var now = _time.GetUtcNow();
        var epoch = CurrentEpoch();
        var bucketMs = (long)BucketLength.TotalMilliseconds;
        // The current bucket is partial: the last minute is 55 s plus however far into it the clock is.
        var lastMinuteSeconds = (LastMinuteBuckets - 1) * BucketLength.TotalSeconds + (now.ToUnixTimeMilliseconds() - epoch * bucketMs) / 1000.0;

        var routeIds = _snapshots.Current.Routes.Select(r => r.RouteId).ToList();
        Prune(routeIds);
        var series = _routes;
        var routes = routeIds.Select(id => Summarize(id, series.GetValueOrDefault(id), epoch, lastMinuteSeconds)).ToList();
        return new RouteStatisticsView(
            now,
            (int)BucketLength.TotalSeconds,
            (int)Window.TotalSeconds,
            DateTimeOffset.FromUnixTimeMilliseconds((epoch - BucketCount + 1) * bucketMs),
            routes,
            Summarize(null, _noRoute, epoch, lastMinuteSeconds));
    }

    /// <summary>Drops the series of routes a reload removed.</summary>
    private void Prune(List<string> routeIds)
    {
        if (_routes.Keys.All(routeIds.Contains)) return;
        lock (_addLock)
        {
            _routes = _routes.Where(p => routeIds.Contains(p.Key)).ToDictionary(StringComparer.Ordinal);
        }
    }

    private static RouteStatsView Summarize(string? route, RouteSeries? series, long epoch, double lastMinuteSeconds)
    {
        var count = BucketCount;
        var requests = new long[count];
        var serverErrors = new long[count];
        var clientErrors = new long[count];
        var p50 = new double?[count];
        var p99 = new double?[count];
        Span<long> bucket = stackalloc long[RouteSeries.Stride];
        Span<long> minuteHistogram = stackalloc long[LatencyHistogram.BucketCount];
        minuteHistogram.Clear();
        long minuteRequests = 0, minuteServer = 0, minuteClient = 0;
        for (var i = 0; i < count; i++)
        {
            var bucketEpoch = epoch - count + 1 + i;
            if (series is null || !series.TryRead(bucketEpoch, bucket)) continue;
            var histogram = bucket.Slice(RouteSeries.Histogram, LatencyHistogram.BucketCount);
            requests[i] = bucket[RouteSeries.Requests];
            serverErrors[i] = bucket[RouteSeries.ServerErrors];
            clientErrors[i] = bucket[RouteSeries.ClientErrors];
            p50[i] = LatencyHistogram.Percentile(histogram, 0.50);
            p99[i] = LatencyHistogram.Percentile(histogram, 0.99);
            if (i >= count - LastMinuteBuckets)
            {
                minuteRequests += requests[i];
                minuteServer += serverErrors[i];
                minuteClient += clientErrors[i];
                for (var h = 0; h < histogram.Length; h++) minuteHistogram[h] += histogram[h];
            }
        }
        var lastMinute = new WindowSummary(
            minuteRequests,
            Math.Round(minuteRequests / lastMinuteSeconds, 3),
            minuteServer,
            minuteClient,
            minuteRequests == 0 ? 0 : Math.Round((double)minuteServer / minuteRequests, 4),
            LatencyHistogram.Percentile(minuteHistogram, 0.50),
            LatencyHistogram.Percentile(minuteHistogram, 0.99));
        return new RouteStatsView(route, lastMinute, new SeriesView(requests, serverErrors, clientErrors, p50, p99));
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>The body of <c>GET /admin/stats</c>.</summary>
/// <param name="SeriesStart">The start of the first (oldest) bucket of every series; bucket i starts BucketSeconds × i later.</param>
/// <param name="NoRoute">Requests no route took (404 "no route", requests refused before routing).</param>
public sealed record RouteStatisticsView(DateTimeOffset Now, int BucketSeconds, int WindowSeconds, DateTimeOffset SeriesStart, IReadOnlyList<RouteStatsView> Routes, RouteStatsView NoRoute);

/// <param name="Route">The route id; null for the "no route" series.</param>
public sealed record RouteStatsView(string? Route, WindowSummary LastMinute, SeriesView Series);

/// <param name="ErrorRate">5xx answers / requests (0..1); 4xx count as answered, as in <see cref="ClientErrors"/>.</param>
/// <param name="P50Ms">Median latency in milliseconds (from √2-wide buckets, so ±20%); null without requests.</param>
public sealed record WindowSummary(long Requests, double RequestsPerSecond, long ServerErrors, long ClientErrors, double ErrorRate, double? P50Ms, double? P99Ms);

/// <summary>Per bucket, oldest first; latencies are null for a bucket without requests.</summary>
public sealed record SeriesView(long[] Requests, long[] ServerErrors, long[] ClientErrors, double?[] P50Ms, double?[] P99Ms);
