using Meshgate.Proxy.Pipeline;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// The response body feature while the access log is on: counts the body bytes the steps and the
/// forwarder write, through the stream, the pipe writer or SendFile. One object is both the feature
/// and the stream, because proxied responses (the common case) are written through the stream; a
/// writer is made only for steps that ask for one.
/// </summary>
internal sealed class CountingResponseBody(IHttpResponseBodyFeature inner) : WriteOnlyStream, IHttpResponseBodyFeature
{
    private readonly Stream _stream = inner.Stream;
    private PipeWriter? _writer;

    public IHttpResponseBodyFeature Inner => inner;

    public long BytesWritten { get; private set; }

    /// <summary>Whether a step asked for the pipe writer, which then must be flushed at the end.</summary>
    public bool HasWriter => _writer is not null;

    // IHttpResponseBodyFeature
    Stream IHttpResponseBodyFeature.Stream => this;

    public PipeWriter Writer => _writer ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));

    public void DisableBuffering() => inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

    public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
    {
        if (_writer is not null) await _writer.FlushAsync(cancellationToken);
        await inner.SendFileAsync(path, offset, count, cancellationToken);
        BytesWritten += count ?? new FileInfo(path).Length - offset;
    }

    public async Task CompleteAsync()
    {
        await FinishAsync();
        await inner.CompleteAsync();
    }

    /// <summary>Pushes what a step left in the writer to the stream, before the feature is taken off the request.</summary>
    public async ValueTask FinishAsync()
    {
        if (_writer is { } writer)
        {
            _writer = null;
            await writer.CompleteAsync();
        }
    }

    // Stream
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _stream.Write(buffer);
        BytesWritten += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        BytesWritten += buffer.Length;
        return _stream.WriteAsync(buffer, cancellationToken);
    }

    public override void Flush() => _stream.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => _stream.FlushAsync(cancellationToken);

}
