using System.Globalization;
using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>Checks a cluster's circuitBreaker and outlierDetection sections, and names the replacement of passiveHealth.</summary>
internal static class ClusterResilienceValidator
{
    public static void Validate(ClusterDefinition cluster, string path, ValidationContext context)
    {
        if (cluster.PassiveHealth is { } passive)
        {
            // One passive mechanism: the old keys would mean something slightly different (no growing ejection
            // time, no ejection cap), so they are not silently mapped; the message gives the nearest equivalent.
            context.Error($"{path}.passiveHealth",
                "was replaced by outlierDetection; the nearest equivalent is outlierDetection: { consecutive5xx: "
                + passive.ConsecutiveFailures.ToString(CultureInfo.InvariantCulture) + ", baseEjectionTime: " + Duration.Format(passive.EjectFor)
                + ", maxEjectionPercent: 100 } (an endpoint ejected again stays out longer each time, see docs/resilience.md)");
        }
        if (cluster.CircuitBreaker is { } breaker) ValidateCircuitBreaker(breaker, $"{path}.circuitBreaker", context);
        if (cluster.OutlierDetection is { } outliers) ValidateOutlierDetection(outliers, $"{path}.outlierDetection", context);
    }

    private static void ValidateCircuitBreaker(CircuitBreakerDefinition breaker, string path, ValidationContext context)
    {
        if (breaker is { MaxConcurrentRequests: null, MaxPendingRequests: null, MaxConnectionsPerEndpoint: null })
        {
            context.Error(path, "sets no limit; give at least one of maxConcurrentRequests, maxPendingRequests, maxConnectionsPerEndpoint");
            return;
        }
        AtLeastOne(breaker.MaxConcurrentRequests, $"{path}.maxConcurrentRequests", context);
        AtLeastOne(breaker.MaxConnectionsPerEndpoint, $"{path}.maxConnectionsPerEndpoint", context);
        if (breaker.MaxPendingRequests is { } pending)
        {
            // Zero is meaningful here: no request may wait for a connection.
            if (pending < 0) context.Error($"{path}.maxPendingRequests", $"must be 0 or more, found {pending}");
            if (breaker.MaxConnectionsPerEndpoint is null)
            {
                context.Error($"{path}.maxPendingRequests", "needs maxConnectionsPerEndpoint: a request is pending when all of an endpoint's connections are busy");
            }
        }
    }

    private static void ValidateOutlierDetection(OutlierDetectionDefinition outliers, string path, ValidationContext context)
    {
        AtLeastOne(outliers.Consecutive5xx, $"{path}.consecutive5xx", context);
        AtLeastOne(outliers.ConsecutiveGatewayErrors, $"{path}.consecutiveGatewayErrors", context);
        Positive(outliers.Interval, $"{path}.interval", context);
        Positive(outliers.BaseEjectionTime, $"{path}.baseEjectionTime", context);
        if (outliers.MaxEjectionTime < outliers.BaseEjectionTime && outliers.BaseEjectionTime > TimeSpan.Zero)
        {
            context.Error($"{path}.maxEjectionTime", $"must be at least baseEjectionTime ({Duration.Format(outliers.BaseEjectionTime)}), found {Duration.Format(outliers.MaxEjectionTime)}");
        }
        if (outliers.MaxEjectionPercent is < 1 or > 100)
        {
            context.Error($"{path}.maxEjectionPercent", $"must be between 1 and 100, found {outliers.MaxEjectionPercent}");
        }
        if (outliers.SuccessRate is { } rate)
        {
            AtLeastOne(rate.MinimumHosts, $"{path}.successRate.minimumHosts", context);
            AtLeastOne(rate.RequestVolume, $"{path}.successRate.requestVolume", context);
            if (!(rate.StdevFactor > 0) || double.IsInfinity(rate.StdevFactor))
            {
                context.Error($"{path}.successRate.stdevFactor", $"must be a number greater than zero, found {rate.StdevFactor.ToString(CultureInfo.InvariantCulture)}");
            }
        }
    }

    private static void AtLeastOne(int? value, string path, ValidationContext context)
    {
        if (value is < 1) context.Error(path, $"must be at least 1, found {value.Value.ToString(CultureInfo.InvariantCulture)}");
    }

    private static void Positive(TimeSpan value, string path, ValidationContext context)
    {
        if (value <= TimeSpan.Zero) context.Error(path, $"must be greater than zero, found {Duration.Format(value)}");
    }
}
