using System.Diagnostics.Metrics;
using Meshgate.Common;

namespace Meshgate.Proxy.Pipeline;

/// <summary>Every instrument config reloading emits.</summary>
/// <remarks>Observable instruments over fields: the reloader exists before anything listens, and a series must show from the start, at 0.</remarks>
internal sealed class ConfigReloadMetrics
{
    private long _reloads;
    private long _failures;
    private long _lastSuccessUnixSeconds;

    public ConfigReloadMetrics(IMeterFactory meterFactory, DateTimeOffset loadedAt)
    {
        _lastSuccessUnixSeconds = loadedAt.ToUnixTimeSeconds();
        var meter = meterFactory.Create(MeshgateMeter.Name);
        meter.CreateObservableCounter("meshgate.config.reloads", () => Volatile.Read(ref _reloads), "{reload}",
            "Config reloads that were accepted (applied, or valid and unchanged).");
        meter.CreateObservableCounter("meshgate.config.reload_failures", () => Volatile.Read(ref _failures), "{reload}",
            "Config reloads rejected as invalid; the running config kept serving.");
        meter.CreateObservableGauge("meshgate.config.last_reload_success_time", () => Volatile.Read(ref _lastSuccessUnixSeconds), "s",
            "When the config last loaded successfully (the first load or a reload), in Unix seconds.");
    }

    public void Succeeded(DateTimeOffset at)
    {
        Interlocked.Increment(ref _reloads);
        Volatile.Write(ref _lastSuccessUnixSeconds, at.ToUnixTimeSeconds());
    }

    public void Failed() => Interlocked.Increment(ref _failures);
}
