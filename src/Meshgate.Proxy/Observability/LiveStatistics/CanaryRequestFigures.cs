using System.Diagnostics.Metrics;
using Meshgate.Configuration.Sources.Etcd.Canary;

namespace Meshgate.Proxy.Observability.LiveStatistics;

/// <summary>
/// This node's requests during a config canary: count, 5xx answers and a latency histogram, from ASP.NET Core's own
/// <c>http.server.request.duration</c> of this gateway's meter factory (as <see cref="RouteStatistics"/> reads it).
/// Outside a canary nothing is counted: the measurement callback only reads a null field.
/// </summary>
public sealed class CanaryRequestFigures : ICanaryFigureSource, IDisposable
{
    private readonly MeterListener _listener;
    private volatile Counts? _counts;

    public CanaryRequestFigures(IMeterFactory meterFactory)
    {
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == RouteStatistics.HostingMeterName && instrument.Name == RouteStatistics.RequestDurationInstrument && ReferenceEquals(instrument.Meter.Scope, meterFactory))
                {
                    listener.EnableMeasurementEvents(instrument, this);
                }
            },
        };
        _listener.SetMeasurementEventCallback<double>(static (_, seconds, tags, state) => ((CanaryRequestFigures)state!)._counts?.Record(seconds, tags));
        _listener.Start();
    }

    public void Restart() => _counts = new Counts();

    public void Stop() => _counts = null;

    public CanaryFigures Read() => _counts?.Read() ?? CanaryFigures.Empty(LatencyHistogram.BucketCount);

    public double? P99(long[] histogram) => histogram.Length == 0 ? null : LatencyHistogram.Percentile(histogram, 0.99);

    public void Dispose() => _listener.Dispose();

    private sealed class Counts
    {
        private long _requests;
        private long _serverErrors;
        private readonly long[] _histogram = new long[LatencyHistogram.BucketCount];

        public void Record(double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "http.response.status_code" && tag.Value is int code && code >= 500) Interlocked.Increment(ref _serverErrors);
            }
            Interlocked.Increment(ref _histogram[LatencyHistogram.BucketOf(seconds * 1000)]);
            Interlocked.Increment(ref _requests);
        }

        public CanaryFigures Read()
        {
            var histogram = new long[_histogram.Length];
            for (var i = 0; i < histogram.Length; i++) histogram[i] = Volatile.Read(ref _histogram[i]);
            return new CanaryFigures(Volatile.Read(ref _requests), Volatile.Read(ref _serverErrors), histogram);
        }
    }
}
