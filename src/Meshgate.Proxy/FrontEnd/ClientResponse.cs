using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Text;
using Meshgate.Proxy.Upstream.Http1;
using Microsoft.AspNetCore.WebUtilities;

namespace Meshgate.Proxy.FrontEnd;

/// <summary>
/// The answer to one request on a front-end connection, written as Kestrel would write the pipeline's: the upstream's
/// status and end-to-end headers (the sink of <see cref="Http1ResponseReader"/>), a Date when the upstream sent none,
/// the body by its Content-Length or else chunked. The head is held until the first body bytes or the end, so a failure
/// before then can still be answered with a problem instead (as the pipeline's response has not started either). The
/// gateway's own headers for the request (<see cref="AddGatewayHeader"/>) go on whichever answer it gets.
/// One per connection, reused per request. Each write is the head still held, if any, and the bytes given, in one
/// <see cref="ClientOutput.Write"/>: for a short answer one system call.
/// </summary>
internal sealed class ClientResponse(ClientOutput output) : Stream, IResponseHeadSink
{
    private readonly ArrayBufferWriter<byte> _head = new(512);
    // A chunk's size line, data and CRLF, written as one.
    private readonly ArrayBufferWriter<byte> _chunk = new(512);
    private readonly List<int> _lineStarts = [];
    private readonly List<(string Name, string Value)> _gatewayHeaders = [];
    private bool _isHead;
    private bool _sawDate;
    private bool _chunked;
    private bool _headPending;

    /// <summary>The final status the client gets (0 before one is known).</summary>
    public int Status { get; private set; }

    /// <summary>Bytes of the body written to the client.</summary>
    public long BodyBytes { get; private set; }

    /// <summary>Whether any of the answer has gone to the client.</summary>
    public bool Flushed { get; private set; }

    /// <summary>A new request: no answer and no gateway headers yet.</summary>
    public void Start(bool isHead)
    {
        _isHead = isHead;
        _gatewayHeaders.Clear();
        ResetHead();
    }

    /// <summary>
    /// A header of the gateway's own for this request's answer (the rate limit's, a challenge): it replaces any the upstream
    /// sends by that name, as the pipeline's steps set theirs when the response starts. Added again, a name gets one more line.
    /// </summary>
    public void AddGatewayHeader(string name, string value) => _gatewayHeaders.Add((name, value));

    /// <summary>Forgets the answer so far (a failed attempt's), not the gateway's headers.</summary>
    public void ResetHead()
    {
        _head.ResetWrittenCount();
        _lineStarts.Clear();
        _sawDate = false;
        _chunked = false;
        _headPending = false;
        Status = 0;
        BodyBytes = 0;
        Flushed = false;
    }

    void IResponseHeadSink.Status(int status, ReadOnlySpan<byte> reason) => StatusLine(status, reason);

    private void StatusLine(int status, ReadOnlySpan<byte> reason)
    {
        Status = status;
        _head.Write("HTTP/1.1 "u8);
        Http1RequestWriter.Number(_head, status);
        _head.Write(" "u8);
        // As Kestrel: an empty reason phrase is the standard one.
        if (reason.Length > 0) _head.Write(reason);
        else Http1RequestWriter.Latin1(_head, ReasonPhrases.GetReasonPhrase(status));
        _head.Write("\r\n"u8);
    }

    void IResponseHeadSink.Header(int slot, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (slot == DateSlot) _sawDate = true;
        if (_gatewayHeaders.Count > 0 && IsGatewayHeader(slot >= 0 ? Http1HeaderNames.Bytes(slot) : name)) return;
        _lineStarts.Add(_head.WrittenCount);
        // A known name as the framework spells it (Kestrel writes a header set by name so), any other as sent.
        _head.Write(slot >= 0 ? Http1HeaderNames.Bytes(slot) : name);
        _head.Write(": "u8);
        _head.Write(value);
        _head.Write("\r\n"u8);
    }

    void IResponseHeadSink.RemoveConnectionListed(string names)
    {
        // Rare: rewrite the headers without the listed names.
        var written = _head.WrittenSpan.ToArray();
        var statusEnd = _lineStarts.Count > 0 ? _lineStarts[0] : written.Length;
        var starts = _lineStarts.ToArray();
        _head.ResetWrittenCount();
        _lineStarts.Clear();
        _head.Write(written.AsSpan(0, statusEnd));
        for (var i = 0; i < starts.Length; i++)
        {
            var line = written.AsSpan(starts[i], (i + 1 < starts.Length ? starts[i + 1] : written.Length) - starts[i]);
            var name = Encoding.Latin1.GetString(line[..line.IndexOf((byte)':')]);
            if (Transforms.ConnectionHeadersTransform.Lists(names, name)) continue;
            _lineStarts.Add(_head.WrittenCount);
            _head.Write(line);
        }
    }

    void IResponseHeadSink.Framed(ResponseHead head)
    {
        switch (head.Body)
        {
            case ResponseBody.ContentLength:
            case ResponseBody.None when head.Length >= 0:
                _head.Write("Content-Length: "u8);
                Http1RequestWriter.Number(_head, head.Length);
                _head.Write("\r\n"u8);
                break;
            case ResponseBody.Chunked:
            case ResponseBody.UntilClose:
                // As Kestrel does for a body of unknown length.
                _chunked = true;
                _head.Write("Transfer-Encoding: chunked\r\n"u8);
                break;
        }
    }

    /// <summary>After the upstream's head: the gateway's own headers and the blank line; held until the body or the end.</summary>
    public void EndHead(bool keepAlive)
    {
        WriteGatewayHeaders();
        if (!_sawDate) WriteDate(_head);
        if (!keepAlive) _head.Write("Connection: close\r\n"u8);
        _head.Write("\r\n"u8);
        _headPending = true;
    }

    /// <summary>The end of the answer: the head if no body came, the last chunk, all flushed.</summary>
    public ValueTask EndAsync()
    {
        // A body flushed its last bytes as it wrote them: a flush of nothing would still wake Kestrel's sender.
        if (!_headPending && !_chunked) return default;
        output.Write(TakePendingHead(), _chunked ? "0\r\n\r\n"u8 : default);
        return FlushAsync();
    }

    /// <summary>A problem+json answer made by the gateway, in place of the upstream's (nothing of which has gone out).</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ProblemAsync(int status, string errorCode, byte[] body, bool keepAlive)
    {
        ResetHead();
        StatusLine(status, default);
        _head.Write("Content-Type: "u8);
        Http1RequestWriter.Latin1(_head, Errors.ProblemResponses.ContentType);
        _head.Write("\r\n"u8);
        Http1RequestWriter.Latin1(_head, Errors.ProblemResponses.SourceHeader);
        _head.Write(": "u8);
        Http1RequestWriter.Latin1(_head, errorCode);
        _head.Write("\r\n"u8);
        if (!_isHead)
        {
            _head.Write("Content-Length: "u8);
            Http1RequestWriter.Number(_head, body.Length);
            _head.Write("\r\n"u8);
        }
        WriteGatewayHeaders();
        WriteDate(_head);
        if (!keepAlive) _head.Write("Connection: close\r\n"u8);
        _head.Write("\r\n"u8);
        output.Write(_head.WrittenSpan, body);
        BodyBytes = body.Length;
        await FlushAsync();
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var head = TakePendingHead();
        if (_chunked)
        {
            _chunk.ResetWrittenCount();
            var span = _chunk.GetSpan(20);
            Utf8Formatter.TryFormat(buffer.Length, span, out var written, new StandardFormat('X'));
            span[written] = (byte)'\r';
            span[written + 1] = (byte)'\n';
            _chunk.Advance(written + 2);
            _chunk.Write(buffer.Span);
            _chunk.Write("\r\n"u8);
            output.Write(head, _chunk.WrittenSpan);
        }
        else
        {
            output.Write(head, buffer.Span);
        }
        BodyBytes += buffer.Length;
        return FlushAsync(cancellationToken);
    }

    private bool IsGatewayHeader(ReadOnlySpan<byte> name)
    {
        foreach (var (gatewayName, _) in _gatewayHeaders)
        {
            if (Ascii.EqualsIgnoreCase(name, gatewayName)) return true;
        }
        return false;
    }

    private void WriteGatewayHeaders()
    {
        foreach (var (name, value) in _gatewayHeaders)
        {
            Http1RequestWriter.Latin1(_head, name);
            _head.Write(": "u8);
            Http1RequestWriter.Latin1(_head, value);
            _head.Write("\r\n"u8);
        }
    }

    /// <summary>The head held until now (empty when it went out already).</summary>
    private ReadOnlySpan<byte> TakePendingHead()
    {
        if (!_headPending) return default;
        _headPending = false;
        return _head.WrittenSpan;
    }

    /// <summary>Sends what the writes left in the pipe; at once, with no async state, when they all went to the socket.</summary>
    private new ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        Flushed = true;
        var flush = output.FlushAsync(cancellationToken);
        if (!flush.IsCompletedSuccessfully) return AwaitFlushAsync(flush);
        var result = flush.Result;
        return result.IsCompleted || result.IsCanceled ? ValueTask.FromException(ClientClosed()) : default;
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask AwaitFlushAsync(ValueTask<FlushResult> flush)
    {
        var result = await flush;
        if (result.IsCompleted || result.IsCanceled) throw ClientClosed();
    }

    private static IOException ClientClosed() => new("The client closed the connection.");

    // The slot of Date in Http1HeaderNames' known names.
    private static readonly int DateSlot = Http1HeaderNames.Find("Date"u8);

    private static void WriteDate(IBufferWriter<byte> writer)
    {
        writer.Write("Date: "u8);
        writer.Write(HttpDate.Now());
        writer.Write("\r\n"u8);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => throw new NotSupportedException();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>The Date header's value (RFC 9110 IMF-fixdate), made once a second.</summary>
internal static class HttpDate
{
    private sealed record Stamp(long Second, byte[] Value);

    private static Stamp _current = new(0, []);

    public static byte[] Now()
    {
        var now = DateTimeOffset.UtcNow;
        var second = now.ToUnixTimeSeconds();
        var current = Volatile.Read(ref _current);
        if (current.Second == second) return current.Value;
        var value = Encoding.ASCII.GetBytes(now.ToString("r", System.Globalization.CultureInfo.InvariantCulture));
        Volatile.Write(ref _current, new Stamp(second, value));
        return value;
    }
}
