using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Resilience.OutlierDetection;

/// <summary>What outlier detection knows about an endpoint, for the admin API.</summary>
public interface IOutlierDetectionState
{
    /// <summary>Null when the endpoint was never ejected (or its multiplier has decayed to zero and it is in service).</summary>
    EjectionView? DescribeEjection(ClusterState cluster, DestinationState destination);
}

/// <param name="EjectedUntil">When the current ejection ends; null when the endpoint is in service.</param>
/// <param name="Ejections">The ejection multiplier: the next ejection lasts this many + 1 times baseEjectionTime.</param>
/// <param name="LastReason">Why it was last ejected: consecutive-5xx, consecutive-gateway-errors or success-rate.</param>
public sealed record EjectionView(DateTimeOffset? EjectedUntil, int Ejections, string? LastReason);
