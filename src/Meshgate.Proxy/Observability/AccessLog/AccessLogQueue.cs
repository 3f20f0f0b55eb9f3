using System.Threading.Channels;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>What the admin API shows about the access log.</summary>
/// <param name="Written">Lines handed to the output since start.</param>
/// <param name="Dropped">Lines lost because the queue was full (or the writer had stopped).</param>
/// <param name="SampledOut">Successful requests not logged because of sampleSuccesses.</param>
/// <param name="WriteErrors">Failed opens or writes of the output.</param>
public sealed record AccessLogCounters(int QueueCapacity, int Queued, long Written, long Dropped, long SampledOut, long WriteErrors);

/// <summary>
/// The bounded queue between the request path and the one writer. Enqueueing never waits: when the
/// writer falls behind, new lines are dropped and counted, so a slow disk cannot slow requests.
/// </summary>
public sealed class AccessLogQueue
{
    public const int DefaultCapacity = 10_000;

    private readonly Channel<AccessLogEntry> _channel;
    private readonly AccessLogMetrics _metrics;
    private long _written;
    private long _dropped;
    private long _sampledOut;
    private long _writeErrors;

    /// <param name="capacity">Fixed for the life of the process: a channel cannot be resized.</param>
    internal AccessLogQueue(int capacity, AccessLogMetrics metrics)
    {
        Capacity = capacity;
        _metrics = metrics;
        _channel = Channel.CreateBounded<AccessLogEntry>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = true,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
        }, _ => CountDrop());
    }

    public int Capacity { get; }

    internal ChannelReader<AccessLogEntry> Reader => _channel.Reader;

    public AccessLogCounters Counters => new(Capacity, _channel.Reader.Count,
        Interlocked.Read(ref _written), Interlocked.Read(ref _dropped), Interlocked.Read(ref _sampledOut), Interlocked.Read(ref _writeErrors));

    internal void Enqueue(in AccessLogEntry entry)
    {
        // A full queue calls the drop callback (DropWrite) and still returns true; false means the writer has stopped.
        if (!_channel.Writer.TryWrite(entry)) CountDrop();
    }

    private void CountDrop()
    {
        Interlocked.Increment(ref _dropped);
        _metrics.Dropped();
    }

    internal void SampledOut() => Interlocked.Increment(ref _sampledOut);

    internal void Written(int lines)
    {
        Interlocked.Add(ref _written, lines);
        _metrics.Written(lines);
    }

    internal void WriteError()
    {
        Interlocked.Increment(ref _writeErrors);
        _metrics.WriteError();
    }

    /// <summary>No more lines: the writer drains what is queued and stops.</summary>
    internal void Complete() => _channel.Writer.TryComplete();
}
