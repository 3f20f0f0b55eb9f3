using System.Diagnostics.Metrics;
using Meshgate.Common;

namespace Meshgate.Proxy.Resilience.CircuitBreaking;

/// <summary>Every instrument circuit breaking emits.</summary>
internal sealed class CircuitBreakingMetrics
{
    private readonly Counter<long> _rejections;

    public CircuitBreakingMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeshgateMeter.Name);
        _rejections = meter.CreateCounter<long>("meshgate.circuit_breaking.rejections", "{request}",
            "Requests answered 503 at once because a circuit-breaker limit was reached, by cluster and limit.");
    }

    public void Rejected(string cluster, string limit) =>
        _rejections.Add(1, new KeyValuePair<string, object?>("cluster", cluster), new KeyValuePair<string, object?>("limit", limit));
}
