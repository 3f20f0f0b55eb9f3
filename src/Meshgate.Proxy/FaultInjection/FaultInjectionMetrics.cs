using System.Diagnostics.Metrics;

namespace Meshgate.Proxy.FaultInjection;

/// <summary>Every instrument fault injection emits.</summary>
internal sealed class FaultInjectionMetrics(IMeterFactory meters)
{
    private readonly Counter<long> _injected = meters.Create("Meshgate").CreateCounter<long>("meshgate.faults.injected", "{fault}", "Faults injected into requests, by route and fault (abort, delay).");

    public void Injected(string route, string fault) => _injected.Add(1, new("route", route), new("fault", fault));
}
