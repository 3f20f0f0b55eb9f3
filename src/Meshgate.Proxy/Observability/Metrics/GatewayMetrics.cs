using System.Diagnostics;
using System.Diagnostics.Metrics;
using Meshgate.Common;
using Meshgate.Proxy.Pipeline;

namespace Meshgate.Proxy.Observability.Metrics;

/// <summary>
/// The per-request instruments of ours, beside ASP.NET Core's <c>http.server.request.duration</c>: body
/// sizes (OpenTelemetry's names), the time of each upstream attempt, and the requests in flight. Recorded by the
/// observability step and the upstream-attempt step, and only when <see cref="Enabled"/>.
/// </summary>
/// <remarks>
/// <c>http.server.active_requests</c> has ASP.NET Core's name, unit and labels but is counted here, in two interlocked
/// counters per method and scheme read at each scrape: ASP.NET Core's own counter was two series updates per request
/// (up and down, each a search of the metric's points by label set), about 1.3 % of the gateway's CPU
/// (docs/performance.md). The observability step counts a request from its start to its completion callback.
/// </remarks>
public sealed class GatewayMetrics
{
    // Upstream durations in seconds, like ASP.NET Core's own request-duration buckets, so the two compare.
    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    // Body sizes in bytes, powers of 4 from 256 B to 64 MiB: a handful of buckets over the sizes an API sees.
    private static readonly long[] SizeBuckets = [0, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

    private readonly Histogram<long>? _requestBodySize;
    private readonly Histogram<long>? _responseBodySize;
    private readonly Histogram<double>? _upstreamDuration;

    // http.server.active_requests: per known method (KnownMethods' order) and scheme (http, https), and whether each
    // combination has been seen (only those are reported, as ASP.NET Core's counter has a series only once used).
    private readonly long[] _active = new long[KnownMethods.Length * 2];
    private readonly bool[] _activeSeen = new bool[KnownMethods.Length * 2];

    /// <param name="enabled">metrics.enabled of the config the process started with.</param>
    public GatewayMetrics(IMeterFactory meterFactory, bool enabled)
    {
        Enabled = enabled;
        if (!enabled) return;
        var meter = meterFactory.Create(MeshgateMeter.Name);
        _requestBodySize = meter.CreateHistogram("http.server.request.body.size", "By",
            "Size of request bodies as read by the gateway (requests that send one), by method, route and cluster.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = SizeBuckets });
        _responseBodySize = meter.CreateHistogram("http.server.response.body.size", "By",
            "Size of response bodies as written to the client, by method, route and cluster.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = SizeBuckets });
        _upstreamDuration = meter.CreateHistogram("meshgate.upstream.duration", "s",
            "Time of each upstream attempt (first tries and retries), from forwarding until the response body was relayed, by route, cluster and status code.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        meter.CreateObservableUpDownCounter("http.server.active_requests", ObserveActiveRequests, "{request}", "Number of active HTTP server requests.");
    }

    /// <summary>Whether metrics are collected: the request path asks this before it measures anything.</summary>
    public bool Enabled { get; }

    /// <param name="requestBytes">
    /// The request body's size; null for a request without a body (neither Content-Length nor chunked): it has no size to
    /// record, and a GET is spared a series update, each a label search costing a few per cent of the CPU of a request
    /// (docs/performance.md, seventeenth session).
    /// </param>
    public void RecordBodySizes(string method, string? route, string? cluster, long? requestBytes, long responseBytes)
    {
        // A request no route took has neither label (as in ASP.NET Core's own metric), not an empty one.
        var tags = new TagList { { "http.request.method", KnownMethod(method) } };
        if (route is not null) tags.Add(MetricsTags.Route, route);
        if (cluster is not null) tags.Add(MetricsTags.Cluster, cluster);
        if (requestBytes is { } bytes) _requestBodySize?.Record(bytes, tags);
        _responseBodySize?.Record(responseBytes, tags);
    }

    /// <remarks>Labelled route and cluster like every meshgate.* instrument; the http.server.* ones carry ASP.NET Core's meshgate.route and meshgate.cluster.</remarks>
    public void RecordUpstreamAttempt(string route, string cluster, int status, double seconds) =>
        _upstreamDuration?.Record(seconds,
            new KeyValuePair<string, object?>("route", route),
            new KeyValuePair<string, object?>("cluster", cluster),
            new KeyValuePair<string, object?>("http.response.status_code", BoxedStatusCodes.Boxed(status)));

    /// <summary>A request has begun: returns its slot, to pass to <see cref="RequestEnded"/>.</summary>
    public int RequestStarted(string method, bool https)
    {
        var slot = MethodIndex(method) * 2 + (https ? 1 : 0);
        Interlocked.Increment(ref _active[slot]);
        if (!_activeSeen[slot]) _activeSeen[slot] = true;
        return slot;
    }

    public void RequestEnded(int slot) => Interlocked.Decrement(ref _active[slot]);

    private IEnumerable<Measurement<long>> ObserveActiveRequests()
    {
        for (var slot = 0; slot < _active.Length; slot++)
        {
            if (!Volatile.Read(ref _activeSeen[slot])) continue;
            yield return new Measurement<long>(Volatile.Read(ref _active[slot]),
                new KeyValuePair<string, object?>("http.request.method", KnownMethods[slot / 2]),
                new KeyValuePair<string, object?>("url.scheme", slot % 2 == 1 ? "https" : "http"));
        }
    }

    /// <summary>The method labels: OpenTelemetry's known methods, and <c>_OTHER</c> for the rest, so a client cannot add series.</summary>
    private static readonly string[] KnownMethods = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "TRACE", "_OTHER"];

    /// <summary>The method as a label, from a fixed set (OpenTelemetry's <c>_OTHER</c> for the rest), so a client cannot add series.</summary>
    internal static string KnownMethod(string method) => KnownMethods[MethodIndex(method)];

    private static int MethodIndex(string method) => method switch
    {
        "GET" => 0,
        "POST" => 1,
        "PUT" => 2,
        "DELETE" => 3,
        "HEAD" => 4,
        "PATCH" => 5,
        "OPTIONS" => 6,
        "CONNECT" => 7,
        "TRACE" => 8,
        _ => 9,
    };
}

/// <summary>Boxed status codes, made once: a label value is an object, and boxing per request would allocate.</summary>
internal static class BoxedStatusCodes
{
    private static readonly object[] Boxes = Enumerable.Range(0, 600).Select(i => (object)i).ToArray();

    public static object Boxed(int status) => (uint)status < (uint)Boxes.Length ? Boxes[status] : status;
}
