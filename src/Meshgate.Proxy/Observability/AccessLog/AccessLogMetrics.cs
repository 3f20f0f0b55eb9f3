using System.Diagnostics.Metrics;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>Every instrument the access log emits, on the "Meshgate" meter.</summary>
internal sealed class AccessLogMetrics
{
    public const string MeterName = "Meshgate";

    private readonly Counter<long> _written;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _writeErrors;

    public AccessLogMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _written = meter.CreateCounter<long>("meshgate.accesslog.lines", "{line}", "Access-log lines handed to the output.");
        _dropped = meter.CreateCounter<long>("meshgate.accesslog.dropped", "{line}", "Access-log lines dropped because the queue was full.");
        _writeErrors = meter.CreateCounter<long>("meshgate.accesslog.write_errors", "{error}", "Failed opens or writes of the access-log output.");
    }

    public void Written(long lines) => _written.Add(lines);

    public void Dropped() => _dropped.Add(1);

    public void WriteError() => _writeErrors.Add(1);
}
