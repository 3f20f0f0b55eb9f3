using System.Diagnostics;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using OpenTelemetry;
using OpenTelemetry.Metrics;

// usage (bench/README.md): cd bench/metrics-record && taskset -c 1 dotnet run -c Release -- --filter "*" --job medium
BenchmarkSwitcher.FromAssembly(typeof(MetricRecords).Assembly).Run(args);

/// <summary>
/// The records the gateway makes for one proxied request with metrics on, each as the gateway makes it: ASP.NET Core's
/// http.server.request.duration with its five labels and the gateway's two (route, cluster), the two body sizes and
/// meshgate.upstream.duration with three each. The SDK is set up as the gateway sets it (a view with a cardinality limit
/// of 500, cumulative, a reader that collects only when asked, as a Prometheus scrape does). Against that, counting the
/// same request into a cell of our own picked by reference (no label search): what a second metrics path would cost.
/// </summary>
[MemoryDiagnoser]
public class MetricRecords
{
    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
    private static readonly long[] SizeBuckets = [0, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
    private static readonly object Status200 = 200;

    private Meter _meter = null!;
    private MeterProvider _provider = null!;
    private Histogram<double> _requestDuration = null!;
    private Histogram<long> _requestBodySize = null!;
    private Histogram<long> _responseBodySize = null!;
    private Histogram<double> _upstreamDuration = null!;
    private readonly OwnHistogram _ownDuration = new(DurationBuckets);
    private readonly OwnHistogram _ownUpstream = new(DurationBuckets);
    private readonly OwnHistogram _ownRequestSize = new(SizeBuckets.Select(b => (double)b).ToArray());
    private readonly OwnHistogram _ownResponseSize = new(SizeBuckets.Select(b => (double)b).ToArray());

    // Route ids as a config would have them: a handful of routes, so the SDK's table holds more than one series.
    private readonly string[] _routes = ["catch-all", "orders", "payments", "users", "search"];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _meter = new Meter("bench");
        _requestDuration = _meter.CreateHistogram("http.server.request.duration", "s", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _requestBodySize = _meter.CreateHistogram("http.server.request.body.size", "By", advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = SizeBuckets });
        _responseBodySize = _meter.CreateHistogram("http.server.response.body.size", "By", advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = SizeBuckets });
        _upstreamDuration = _meter.CreateHistogram("meshgate.upstream.duration", "s", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter("bench")
            .AddView(_ => new MetricStreamConfiguration { CardinalityLimit = 500 })
            .AddReader(new BaseExportingMetricReader(new NoExport()))
            .Build()!;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _provider.Dispose();
        _meter.Dispose();
    }

    private string NextRoute() => _routes[_next++ % _routes.Length];

    /// <summary>ASP.NET Core's request duration, with the five labels it sets and the route and cluster the gateway adds.</summary>
    [Benchmark]
    public void RequestDuration()
    {
        var route = NextRoute();
        var tags = new TagList
        {
            { "http.request.method", "GET" },
            { "url.scheme", "http" },
            { "network.protocol.version", "1.1" },
            { "http.response.status_code", Status200 },
            { "http.route", "/{**catch-all}" },
            { "meshgate.route", route },
            { "meshgate.cluster", route },
        };
        _requestDuration.Record(0.0012, tags);
    }

    /// <summary>The two body sizes (method, route, cluster), as GatewayMetrics.RecordBodySizes makes them.</summary>
    [Benchmark]
    public void BodySizes()
    {
        var route = NextRoute();
        var tags = new TagList { { "http.request.method", "GET" }, { "meshgate.route", route }, { "meshgate.cluster", route } };
        _requestBodySize.Record(0, tags);
        _responseBodySize.Record(20, tags);
    }

    /// <summary>meshgate.upstream.duration (route, cluster, status), as GatewayMetrics.RecordUpstreamAttempt makes it.</summary>
    [Benchmark]
    public void UpstreamDuration()
    {
        var route = NextRoute();
        _upstreamDuration.Record(0.0009,
            new KeyValuePair<string, object?>("route", route),
            new KeyValuePair<string, object?>("cluster", route),
            new KeyValuePair<string, object?>("http.response.status_code", Status200));
    }

    /// <summary>All four, as one proxied request makes them.</summary>
    [Benchmark(Baseline = true)]
    public void OneRequest()
    {
        RequestDuration();
        BodySizes();
        UpstreamDuration();
    }

    /// <summary>The same four figures counted into cells of our own that the route holds (found by reference, not by labels).</summary>
    [Benchmark]
    public void OneRequestOwnCells()
    {
        _ownDuration.Record(0.0012);
        _ownRequestSize.Record(0);
        _ownResponseSize.Record(20);
        _ownUpstream.Record(0.0009);
    }

    private sealed class NoExport : BaseExporter<Metric>
    {
        public override ExportResult Export(in Batch<Metric> batch) => ExportResult.Success;
    }

    /// <summary>A cumulative histogram without labels: a bucket search and three interlocked adds.</summary>
    private sealed class OwnHistogram(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length + 1];
        private long _count;
        private double _sum;

        public void Record(double value)
        {
            var i = 0;
            while (i < bounds.Length && value > bounds[i]) i++;
            Interlocked.Increment(ref _counts[i]);
            Interlocked.Increment(ref _count);
            double seen, sum;
            do
            {
                seen = Volatile.Read(ref _sum);
                sum = seen + value;
            }
            while (Interlocked.CompareExchange(ref _sum, sum, seen) != seen);
        }
    }
}
