using Meshgate.Proxy.Pipeline;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.Proxy.Caching;

/// <summary>What the cache does with an upstream response, decided once its status and headers are known.</summary>
internal enum TeeMode
{
    /// <summary>Pass it to the client untouched.</summary>
    Pass,

    /// <summary>Pass it to the client and copy the body while it streams, up to the entry limit.</summary>
    PassAndCapture,

    /// <summary>Keep it from the client: the cache answers instead (a 304 to a revalidation, or an error covered by stale-if-error).</summary>
    Intercept,
}

/// <summary>
/// The response body seen by the steps after the cache. At the first write (or start, or the end of the request)
/// it asks once what to do, then streams to the client while copying, or swallows. The client never waits for a
/// buffer: each write goes through as it comes, and the copy is abandoned past the limit.
/// </summary>
internal sealed class ResponseTee(IHttpResponseBodyFeature inner, long limit, Func<TeeMode> decide) : WriteOnlyStream, IHttpResponseBodyFeature
{
    private MemoryStream? _copy;
    private PipeWriter? _writer;

    public TeeMode? Mode { get; private set; }

    /// <summary>The copied body; null when nothing was copied or it grew past the limit.</summary>
    public byte[]? Captured => Mode == TeeMode.PassAndCapture && _copy is not null ? _copy.ToArray() : Mode == TeeMode.PassAndCapture ? [] : null;

    public TeeMode Decide()
    {
        if (Mode is { } mode) return mode;
        mode = decide();
        Mode = mode;
        return mode;
    }

    // IHttpResponseBodyFeature
    Stream IHttpResponseBodyFeature.Stream => this;
    public PipeWriter Writer => _writer ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));
    public void DisableBuffering() => inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) =>
        Decide() == TeeMode.Intercept ? Task.CompletedTask : inner.StartAsync(cancellationToken);

    public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, useAsync: true);
        file.Seek(offset, SeekOrigin.Begin);
        var buffer = new byte[16 * 1024];
        var remaining = count ?? long.MaxValue;
        while (remaining > 0)
        {
            var read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), cancellationToken);
            if (read == 0) break;
            await WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            remaining -= read;
        }
    }

    /// <summary>Pushes out what a step wrote through <see cref="Writer"/>.</summary>
    public async Task FlushWriterAsync()
    {
        if (_writer is not null) await _writer.FlushAsync();
    }

    public async Task CompleteAsync()
    {
        if (_writer is not null) await _writer.FlushAsync();
        if (Decide() != TeeMode.Intercept) await inner.CompleteAsync();
    }

    // Stream
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override void Flush() => FlushAsync().GetAwaiter().GetResult();
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        Decide() == TeeMode.Intercept ? Task.CompletedTask : inner.Stream.FlushAsync(cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var mode = Decide();
        if (mode == TeeMode.Intercept) return ValueTask.CompletedTask;
        if (mode == TeeMode.PassAndCapture)
        {
            _copy ??= new MemoryStream();
            if (_copy.Length + buffer.Length > limit)
            {
                // Past the limit: stop copying, keep streaming.
                Mode = TeeMode.Pass;
                _copy = null;
            }
            else
            {
                _copy.Write(buffer.Span);
            }
        }
        return inner.Stream.WriteAsync(buffer, cancellationToken);
    }
}
