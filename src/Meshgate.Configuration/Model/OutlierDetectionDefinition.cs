using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>
/// Outlier detection for one cluster: endpoints that fail real requests are ejected (get no traffic) for a
/// while. The one passive health mechanism; active checks are <see cref="ActiveHealthCheckDefinition"/>.
/// </summary>
public sealed record OutlierDetectionDefinition
{
    [Description("5xx answers in a row (gateway errors included) that eject an endpoint. Default 5.")]
    public int Consecutive5xx { get; init; } = 5;

    [Description("Gateway errors in a row (connect failure, reset, timeout, or a 502, 503 or 504 answer) that eject an endpoint. Off when absent.")]
    public int? ConsecutiveGatewayErrors { get; init; }

    [Description("How often the success-rate analysis runs and ejection multipliers decay. Default 10s.")]
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    [Description("Ejection time for the first ejection; the n-th ejection lasts n times as long (up to maxEjectionTime). Default 30s.")]
    public TimeSpan BaseEjectionTime { get; init; } = TimeSpan.FromSeconds(30);

    [Description("Longest ejection, however often the endpoint was ejected. Default 300s.")]
    public TimeSpan MaxEjectionTime { get; init; } = TimeSpan.FromSeconds(300);

    [Description("Most endpoints of the cluster (percent, 1..100, rounded down) that may be ejected at once. Default 50.")]
    public int MaxEjectionPercent { get; init; } = 50;

    [Description("Eject endpoints whose success rate in an interval is far below the cluster's. Off when absent.")]
    public SuccessRateDefinition? SuccessRate { get; init; }
}

public sealed record SuccessRateDefinition
{
    [Description("Endpoints with at least requestVolume requests in the interval needed before the analysis runs. Default 5.")]
    public int MinimumHosts { get; init; } = 5;

    [Description("Requests an endpoint must have had in the interval to be judged. Default 100.")]
    public int RequestVolume { get; init; } = 100;

    [Description("An endpoint is ejected when its success rate is below mean - stdevFactor x standard deviation of the judged endpoints' rates. Default 1.9.")]
    public double StdevFactor { get; init; } = 1.9;
}
