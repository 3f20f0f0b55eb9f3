using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>
/// Prometheus metrics at <c>GET /metrics</c> on the admin listener. On by default: the framework's own
/// instruments plus a few histograms of ours cost well under the forwarding of the request itself.
/// </summary>
public sealed record MetricsDefinition
{
    [Description("Collect metrics and serve them at GET /metrics on the admin listener (Prometheus text format). Default true. false: nothing is measured and the request path pays nothing for metrics. Needs a restart.")]
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// The most label combinations (series) each metric keeps. OpenTelemetry's SDK reserves room for all of them when a
    /// metric is first recorded (about 72 bytes each, for each of the ~36 metrics a gateway has), so its default of
    /// 2,000 costs about 5 MiB of a gateway's memory for series Meshgate's bounded labels never fill.
    /// </summary>
    [Description("The most label combinations (series) each metric keeps, 1..100000. Default 500. Further combinations are counted together in one series labelled otel_metric_overflow=\"true\", so totals stay right; raise it when that series appears (a config with many routes, methods and status codes). Needs a restart.")]
    public int CardinalityLimit { get; init; } = DefaultCardinalityLimit;

    /// <summary>Enough for the labels of a config of a few dozen routes (route x cluster x method x status code), 4 times fewer than the SDK's 2,000.</summary>
    public const int DefaultCardinalityLimit = 500;

    /// <summary>The largest <see cref="CardinalityLimit"/> accepted.</summary>
    public const int MaxCardinalityLimit = 100_000;
}
