using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// The one writer: takes entries off the queue, formats them and writes them to stdout or the file, off
/// the request path. It writes to the output of the current snapshot, so a reload that names another file
/// closes the old one and opens the new one between two lines; nothing queued is lost. On shutdown it
/// drains the queue, for a bounded time.
/// </summary>
internal sealed partial class AccessLogWriter(AccessLogQueue queue, SnapshotAccessor snapshots, ILogger<AccessLogWriter> logger) : IHostedService
{
    /// <summary>Longest wait for the queue to drain on shutdown, when the host allows that long.</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>A batch at least this long means lines arrive faster than they are written one by one.</summary>
    internal const int BusyBatch = 32;

    /// <summary>
    /// After a busy batch, the writer waits for this many more lines before it writes again, and the request that queues the
    /// last of them wakes it. Without a wait, every request that found the writer waiting woke it (a thread-pool hop and a
    /// context switch per request, which the benchmark showed as the largest part of the access log's cost). It used to
    /// wait 20 ms on a timer instead, which woke the timer thread 50 times a second and queued the writer from it; now a
    /// busy gateway wakes the writer from a request it is running anyway (at 10,000 requests a second, about 40 times a
    /// second) and writes batches of a few hundred lines (nginx's access_log buffer makes the same trade).
    /// </summary>
    internal const int GatherLines = 256;

    /// <summary>
    /// The longest a line waits while the writer gathers, when fewer than <see cref="GatherLines"/> come (traffic that slowed
    /// down or stopped). The timer is moved on at each gather, so under steady load it does not fire (the runtime's timer
    /// thread still wakes when it was first due, about 10 times a second, and finds nothing to do).
    /// </summary>
    internal static readonly TimeSpan MaxGatherWait = TimeSpan.FromMilliseconds(100);

    private readonly AccessLogFormatter _formatter = new();
    private AccessLogOutput? _output;
    private AccessLogPolicy? _target;
    private Task _running = Task.CompletedTask;
    private readonly Timer _gatherTimeout = new(static state => ((AccessLogQueue)state!).EndGather(), queue, Timeout.Infinite, Timeout.Infinite);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _running = Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        queue.Complete();
        // Requests have finished by now (the server stops first); what is queued gets this long to reach the output.
        await Task.WhenAny(_running, Task.Delay(DrainTimeout, cancellationToken)).ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var reader = queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                var lines = 0;
                while (reader.TryRead(out var entry))
                {
                    var output = OutputFor(entry.Policy);
                    if (output is null) continue;
                    try
                    {
                        output.Append(_formatter.Format(entry));
                        lines++;
                    }
                    catch (Exception e) when (IsOutputFailure(e))
                    {
                        Failed(e);
                    }
                }
                try
                {
                    _output?.Flush();
                }
                catch (Exception e) when (IsOutputFailure(e))
                {
                    Failed(e);
                }
                if (lines > 0) queue.Written(lines);
                if (lines >= BusyBatch && !reader.Completion.IsCompleted)
                {
                    var gathered = queue.GatherAsync(GatherLines);
                    _gatherTimeout.Change(MaxGatherWait, Timeout.InfiniteTimeSpan);
                    await gathered.ConfigureAwait(false);
                }
            }
        }
        catch (Exception e)
        {
            LogWriterFailed(logger, e);
        }
        finally
        {
            _gatherTimeout.Dispose();
            Close();
        }
    }

    /// <summary>The output of the newest settings: the current snapshot's, or the entry's when the log has been turned off since.</summary>
    private AccessLogOutput? OutputFor(AccessLogPolicy entryPolicy)
    {
        var target = snapshots.Current.AccessLog ?? _target ?? entryPolicy;
        if (_output is not null && ReferenceEquals(target, _target)) return _output;
        if (_output is RotatingFileAccessLogOutput file && file.Path == target.File)
        {
            file.MaxFileSize = target.MaxFileSize;
            file.MaxFiles = target.MaxFiles;
            _target = target;
            return _output;
        }
        if (_output is StdoutAccessLogOutput && target.File is null)
        {
            _target = target;
            return _output;
        }
        Close();
        _target = target;
        try
        {
            _output = target.File is { } path ? new RotatingFileAccessLogOutput(path, target.MaxFileSize, target.MaxFiles) : new StdoutAccessLogOutput();
            LogOpened(logger, target.Output);
        }
        catch (Exception e) when (IsOutputFailure(e))
        {
            // Tried again with the next line; the lines in between are lost and counted as write errors.
            queue.WriteError();
            LogOpenFailed(logger, target.Output, e.Message);
            _target = null;
        }
        return _output;
    }

    /// <summary>What a full disk, a removed directory or lost permissions throw; the writer survives them.</summary>
    private static bool IsOutputFailure(Exception e) => e is IOException or UnauthorizedAccessException or ObjectDisposedException;

    private void Failed(Exception e)
    {
        queue.WriteError();
        LogWriteFailed(logger, _target?.Output ?? "?", e.Message);
        Close();
        _target = null;
    }

    private void Close()
    {
        var output = _output;
        _output = null;
        try
        {
            output?.Dispose();
        }
        catch (Exception e) when (IsOutputFailure(e))
        {
            queue.WriteError();
            LogWriteFailed(logger, _target?.Output ?? "?", e.Message);
        }
    }

    [LoggerMessage(EventId = Common.EventIds.AccessLog + 1, Level = LogLevel.Information, Message = "Access log writing to {Output}")]
    private static partial void LogOpened(ILogger logger, string output);

    [LoggerMessage(EventId = Common.EventIds.AccessLog + 2, Level = LogLevel.Error, Message = "Access log cannot open {Output}: {Reason}; lines are lost until it can")]
    private static partial void LogOpenFailed(ILogger logger, string output, string reason);

    [LoggerMessage(EventId = Common.EventIds.AccessLog + 3, Level = LogLevel.Error, Message = "Access log write to {Output} failed: {Reason}; the file is reopened for the next line")]
    private static partial void LogWriteFailed(ILogger logger, string output, string reason);

    [LoggerMessage(EventId = Common.EventIds.AccessLog + 4, Level = LogLevel.Critical, Message = "Access log writer stopped")]
    private static partial void LogWriterFailed(ILogger logger, Exception exception);
}
