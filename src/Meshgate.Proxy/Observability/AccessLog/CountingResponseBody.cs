using Meshgate.Proxy.Pipeline;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Connections.Features;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// The response body feature while the access log or metrics are on: counts the body bytes the steps and the
/// forwarder write, through the stream, the pipe writer or SendFile. One object is both the feature
/// and the stream, because proxied responses (the common case) are written through the stream; a
/// writer is made only for steps that ask for one.
/// </summary>
/// <remarks>
/// One per connection, reset for each request (<see cref="For"/>): the requests of a connection come one after
/// another (an HTTP/2 stream's state is kept per pooled stream), and the access-log step takes this feature off
/// the request before the request ends, so a keep-alive connection's requests make no new one.
/// </remarks>
internal sealed class CountingResponseBody : WriteOnlyStream, IHttpResponseBodyFeature
{
    private static readonly object PersistentStateKey = new();

    private readonly IHttpResponseBodyFeature _inner;
    private Stream _stream;
    private PipeWriter? _writer;

    public CountingResponseBody(IHttpResponseBodyFeature inner)
    {
        _inner = inner;
        _stream = inner.Stream;
    }

    /// <summary>The connection's counting body around the request's response body feature, reset; a new one when the connection has none for it.</summary>
    public static CountingResponseBody For(HttpContext context)
    {
        var inner = context.Features.Get<IHttpResponseBodyFeature>()!;
        var state = context.Features.Get<IPersistentStateFeature>()?.State;
        if (state is not null && state.TryGetValue(PersistentStateKey, out var kept) && kept is CountingResponseBody body && ReferenceEquals(body._inner, inner))
        {
            body._stream = inner.Stream;
            body._writer = null;
            body.BytesWritten = 0;
            return body;
        }
        body = new CountingResponseBody(inner);
        if (state is not null) state[PersistentStateKey] = body;
        return body;
    }

    public IHttpResponseBodyFeature Inner => _inner;

    public long BytesWritten { get; private set; }

    /// <summary>Whether a step asked for the pipe writer, which then must be flushed at the end.</summary>
    public bool HasWriter => _writer is not null;

    // IHttpResponseBodyFeature
    Stream IHttpResponseBodyFeature.Stream => this;

    public PipeWriter Writer => _writer ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));

    public void DisableBuffering() => _inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => _inner.StartAsync(cancellationToken);

    public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
    {
        if (_writer is not null) await _writer.FlushAsync(cancellationToken);
        await _inner.SendFileAsync(path, offset, count, cancellationToken);
        BytesWritten += count ?? new FileInfo(path).Length - offset;
    }

    public async Task CompleteAsync()
    {
        await FinishAsync();
        await _inner.CompleteAsync();
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
