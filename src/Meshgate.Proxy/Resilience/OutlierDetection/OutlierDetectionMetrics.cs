using System.Diagnostics.Metrics;
using Meshgate.Common;

namespace Meshgate.Proxy.Resilience.OutlierDetection;

/// <summary>Every instrument outlier detection emits.</summary>
internal sealed class OutlierDetectionMetrics
{
    private readonly Counter<long> _ejections;
    private readonly Counter<long> _ejectionsPrevented;

    public OutlierDetectionMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeshgateMeter.Name);
        _ejections = meter.CreateCounter<long>("meshgate.outlier_detection.ejections", "{ejection}",
            "Endpoints ejected by outlier detection, by cluster and reason (consecutive-5xx, consecutive-gateway-errors, success-rate).");
        _ejectionsPrevented = meter.CreateCounter<long>("meshgate.outlier_detection.ejections_prevented", "{ejection}",
            "Ejections outlier detection wanted but maxEjectionPercent did not allow, by cluster and reason.");
    }

    public void Ejected(string cluster, string reason) =>
        _ejections.Add(1, new KeyValuePair<string, object?>("cluster", cluster), new KeyValuePair<string, object?>("reason", reason));

    public void EjectionPrevented(string cluster, string reason) =>
        _ejectionsPrevented.Add(1, new KeyValuePair<string, object?>("cluster", cluster), new KeyValuePair<string, object?>("reason", reason));
}
