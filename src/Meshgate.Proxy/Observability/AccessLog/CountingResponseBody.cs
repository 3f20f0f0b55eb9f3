using System.IO.Pipelines;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// The response body feature while the access log or metrics are on: counts the body bytes the steps and the
/// forwarder write, through the stream, the pipe writer or SendFile. One object is both the feature
/// and the stream, because proxied responses (the common case) are written through the stream; the pipe
/// writer counts what it passes to the server's own writer and buffers nothing, so nothing needs flushing
/// when the request ends. It also holds what the observability step took when the request began, for the
/// completion callback (<see cref="AccessLogMiddleware"/>), so the step needs no object or async frame per request.
/// </summary>
/// <remarks>
/// One per connection, reset for each request (<see cref="For"/>): the requests of a connection come one after
/// another (an HTTP/2 stream's state is kept per pooled stream), and the observability step takes this feature off
/// the request when the request completes, so a keep-alive connection's requests make no new one.
/// </remarks>
internal sealed class CountingResponseBody : WriteOnlyStream, IHttpResponseBodyFeature
{
    private static readonly object PersistentStateKey = new();

    private readonly IHttpResponseBodyFeature _inner;
    private Stream _stream;
    private CountingPipeWriter? _writer;

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
            body.Clear();
            body._stream = inner.Stream;
            body.BytesWritten = 0;
            return body;
        }
        body = new CountingResponseBody(inner);
        if (state is not null) state[PersistentStateKey] = body;
        return body;
    }

    public IHttpResponseBodyFeature Inner => _inner;

    public long BytesWritten { get; private set; }

    // What the observability step took when the request began, read back when it completes.
    public HttpContext? Context { get; set; }
    public AccessLogPolicy? Policy { get; set; }
    public long Started { get; set; }
    /// <summary>The request's slot in http.server.active_requests (GatewayMetrics); -1 when not counted.</summary>
    public int ActiveSlot { get; set; } = -1;
    public DateTimeOffset StartedAt { get; set; }
    public RequestRecord? Record { get; set; }
    public CountingRequestBody? RequestBody { get; set; }

    /// <summary>Drops the request's references, so a connection waiting for its next request keeps nothing of the last one alive.</summary>
    public void Clear()
    {
        Context = null;
        Policy = null;
        Record = null;
        RequestBody = null;
        _writer = null;
    }

    // IHttpResponseBodyFeature
    Stream IHttpResponseBodyFeature.Stream => this;

    public PipeWriter Writer => _writer ??= new CountingPipeWriter(this, _inner.Writer);

    public void DisableBuffering() => _inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => _inner.StartAsync(cancellationToken);

    public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
    {
        await _inner.SendFileAsync(path, offset, count, cancellationToken);
        BytesWritten += count ?? new FileInfo(path).Length - offset;
    }

    public Task CompleteAsync() => _inner.CompleteAsync();

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

    /// <summary>
    /// The server's own pipe writer, counting the bytes advanced through it. Completing it only flushes: the
    /// response ends when the request does, as it did when steps wrote through the stream.
    /// </summary>
    private sealed class CountingPipeWriter(CountingResponseBody body, PipeWriter inner) : PipeWriter
    {
        public override void Advance(int bytes)
        {
            inner.Advance(bytes);
            body.BytesWritten += bytes;
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override void Complete(Exception? exception = null) { }

        public override async ValueTask CompleteAsync(Exception? exception = null) => await inner.FlushAsync();
    }
}
