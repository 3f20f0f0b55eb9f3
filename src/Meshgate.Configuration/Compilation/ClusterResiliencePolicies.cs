using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Compilation;

/// <summary>A cluster's compiled circuit-breaker limits; a null limit is off.</summary>
public sealed record CircuitBreakerPolicy(int? MaxConcurrentRequests, int? MaxPendingRequests, int? MaxConnectionsPerEndpoint);

/// <summary>A cluster's compiled outlier-detection settings.</summary>
public sealed record OutlierDetectionPolicy(
    int Consecutive5xx,
    int? ConsecutiveGatewayErrors,
    TimeSpan Interval,
    TimeSpan BaseEjectionTime,
    TimeSpan MaxEjectionTime,
    int MaxEjectionPercent,
    SuccessRatePolicy? SuccessRate)
{
    /// <summary>How long the <paramref name="ejections"/>-th ejection lasts: base time × count, capped at the maximum.</summary>
    public TimeSpan EjectionTime(int ejections)
    {
        var ticks = Math.Min((double)BaseEjectionTime.Ticks * Math.Max(1, ejections), MaxEjectionTime.Ticks);
        return TimeSpan.FromTicks((long)ticks);
    }
}

public sealed record SuccessRatePolicy(int MinimumHosts, int RequestVolume, double StdevFactor);

/// <summary>The one place that builds the circuit-breaker and outlier-detection policies from their definitions.</summary>
public static class ClusterResilienceCompiler
{
    public static CircuitBreakerPolicy? CompileCircuitBreaker(CircuitBreakerDefinition? definition) =>
        definition is null ? null : new CircuitBreakerPolicy(definition.MaxConcurrentRequests, definition.MaxPendingRequests, definition.MaxConnectionsPerEndpoint);

    public static OutlierDetectionPolicy? CompileOutlierDetection(OutlierDetectionDefinition? definition) =>
        definition is null ? null : new OutlierDetectionPolicy(
            definition.Consecutive5xx,
            definition.ConsecutiveGatewayErrors,
            definition.Interval,
            definition.BaseEjectionTime,
            definition.MaxEjectionTime,
            definition.MaxEjectionPercent,
            definition.SuccessRate is { } rate ? new SuccessRatePolicy(rate.MinimumHosts, rate.RequestVolume, rate.StdevFactor) : null);
}
