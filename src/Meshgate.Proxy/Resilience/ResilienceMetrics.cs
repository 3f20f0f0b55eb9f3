using System.Diagnostics.Metrics;
using Meshgate.Common;

namespace Meshgate.Proxy.Resilience;

/// <summary>Every instrument the retry step emits.</summary>
internal sealed class ResilienceMetrics
{
    private readonly Counter<long> _retries;

    public ResilienceMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeshgateMeter.Name);
        _retries = meter.CreateCounter<long>("meshgate.resilience.retries", "{retry}",
            "Upstream attempts made after the first (retries), by route and cluster.");
    }

    public void Retried(string route, string cluster, int retries) =>
        _retries.Add(retries, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("cluster", cluster));
}
