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

    // While the writer gathers lines (after a busy batch), the lines still to come before the enqueue that wakes it; 0 otherwise.
    private int _gatherRemaining;
    private TaskCompletionSource? _gathered;
    private volatile bool _completing;

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
        // One interlocked decrement per line while the writer gathers; the line that completes the batch wakes it (once:
        // only the decrement that reaches 0 does), through the thread pool, so the request does not write the batch.
        if (Volatile.Read(ref _gatherRemaining) > 0 && Interlocked.Decrement(ref _gatherRemaining) == 0) Volatile.Read(ref _gathered)?.TrySetResult();
    }

    /// <summary>
    /// For the writer only: completes once <paramref name="lines"/> more lines have been queued, or <see cref="EndGather"/>
    /// was called (the writer's fallback timer, or <see cref="Complete"/>). Lines queued meanwhile are not waited for again.
    /// </summary>
    internal Task GatherAsync(int lines)
    {
        var gathered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _gathered, gathered);
        Volatile.Write(ref _gatherRemaining, lines);
        // No more lines will come: what is queued is written without waiting.
        if (_completing) EndGather();
        return gathered.Task;
    }

    /// <summary>Wakes the writer if it gathers lines.</summary>
    internal void EndGather()
    {
        Volatile.Write(ref _gatherRemaining, 0);
        Volatile.Read(ref _gathered)?.TrySetResult();
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
    internal void Complete()
    {
        _completing = true;
        _channel.Writer.TryComplete();
        EndGather();
    }
}
