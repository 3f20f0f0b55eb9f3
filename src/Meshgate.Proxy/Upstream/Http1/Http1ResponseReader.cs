using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>How the upstream frames its response body.</summary>
internal enum ResponseBody
{
    None,
    ContentLength,
    Chunked,
    /// <summary>Neither length nor chunking: the body ends when the upstream closes the connection.</summary>
    UntilClose,
}

/// <summary>What the response head said that the rest of the exchange needs.</summary>
internal struct ResponseHead
{
    public int Status;
    public ResponseBody Body;
    public long Length;
    public bool KeepAlive;
}

/// <summary>
/// Reads a response head from the connection's pipe buffer: the status line and headers, copied onto
/// <c>HttpContext.Response</c> as YARP's transformer copies them (hop-by-hop and Connection-listed names left out,
/// values added to any the gateway already set). Known names are the framework's strings and repeated values
/// come from the connection's cache, so a typical response head allocates little. Interim 1xx heads are skipped.
/// Failures are HttpClient's: <see cref="HttpRequestException"/> with InvalidResponse, ConfigurationLimitExceeded or
/// ResponseEnded, so the gateway's error page and retries read both paths alike.
/// </summary>
internal static class Http1ResponseReader
{
    /// <summary>As HttpClient's MaxResponseHeadersLength default (64 KiB).</summary>
    public const int MaxHeadBytes = 64 * 1024;

    /// <summary>Reads heads until a final one and copies it to the response.</summary>
    /// <exception cref="Http1ConnectionClosedException">The upstream closed the connection before sending any byte.</exception>
    public static ValueTask<ResponseHead> ReadHeadAsync(Http1Connection connection, HttpContext context, CancellationToken cancellationToken) =>
        ReadHeadAsync(connection, connection.ContextSink.For(context), HttpMethods.IsHead(context.Request.Method), cancellationToken);

    /// <summary>Reads heads until a final one and gives its status and end-to-end headers to <paramref name="sink"/>.</summary>
    /// <param name="isHead">The request was HEAD: the answer has no body, whatever its head says.</param>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<ResponseHead> ReadHeadAsync(Http1Connection connection, IResponseHeadSink sink, bool isHead, CancellationToken cancellationToken)
    {
        var head = default(ResponseHead);
        var received = false;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await connection.Reader.ReadAsync(cancellationToken);
            }
            catch (IOException e) when (!received)
            {
                throw new Http1ConnectionClosedException(e);
            }
            if (TakeHead(connection, result, sink, isHead, ref received, ref head)) return head;
        }
    }

    /// <summary>
    /// One read's worth of <see cref="ReadHeadAsync"/>, for a caller that awaits the reads itself: true when
    /// <paramref name="head"/> is the final head (consumed from the reader); false when more bytes are needed (an interim
    /// head consumed, or the rest examined). <paramref name="received"/> starts false and says whether any byte came.
    /// </summary>
    /// <exception cref="Http1ConnectionClosedException">The upstream closed the connection before sending any byte.</exception>
    public static bool TakeHead(Http1Connection connection, ReadResult result, IResponseHeadSink sink, bool isHead, ref bool received, ref ResponseHead head)
    {
        var reader = connection.Reader;
        var buffer = result.Buffer;
        if (buffer.IsEmpty && result.IsCompleted)
        {
            if (!received) throw new Http1ConnectionClosedException(null);
            throw new HttpRequestException(HttpRequestError.ResponseEnded, "The upstream closed the connection in the middle of the response headers.");
        }
        received = true;
        head = default;
        var consumed = TryParse(buffer, connection, sink, isHead, ref head);
        if (consumed is { } position)
        {
            reader.AdvanceTo(position);
            if (head.Status is >= 100 and < 200)
            {
                if (head.Status == StatusCodes.Status101SwitchingProtocols) throw Invalid("The upstream switched protocols on a request that asked for no upgrade.");
                // Interim (100 Continue, 103 Early Hints): the final answer follows.
                return false;
            }
            return true;
        }
        if (buffer.Length > MaxHeadBytes) throw HeadTooLong();
        if (result.IsCompleted) throw new HttpRequestException(HttpRequestError.ResponseEnded, "The upstream closed the connection in the middle of the response headers.");
        reader.AdvanceTo(buffer.Start, buffer.End);
        return false;
    }

    /// <summary>Parses a complete head from the buffer; null when it is not complete yet.</summary>
    private static SequencePosition? TryParse(ReadOnlySequence<byte> buffer, Http1Connection connection, IResponseHeadSink sink, bool isHead, ref ResponseHead head)
    {
        ReadOnlySequence<byte> headBytes;
        SequencePosition afterHead;
        if (buffer.IsSingleSegment)
        {
            // Nearly every head arrives in one read: one vectorized search for its end. SequenceReader's search stops at
            // every CR (each header line) to compare the rest of the delimiter, which cost more than the parse itself.
            var end = buffer.FirstSpan.IndexOf("\r\n\r\n"u8);
            if (end < 0) return null;
            headBytes = buffer.Slice(0, end);
            afterHead = buffer.GetPosition(end + 4);
        }
        else
        {
            var sequence = new SequenceReader<byte>(buffer);
            if (!sequence.TryReadTo(out headBytes, "\r\n\r\n"u8, advancePastDelimiter: true)) return null;
            afterHead = sequence.Position;
        }
        if (headBytes.Length > MaxHeadBytes) throw HeadTooLong();
        if (headBytes.IsSingleSegment)
        {
            Parse(headBytes.FirstSpan, connection, sink, isHead, ref head);
        }
        else
        {
            var rented = ArrayPool<byte>.Shared.Rent((int)headBytes.Length);
            try
            {
                headBytes.CopyTo(rented);
                Parse(rented.AsSpan(0, (int)headBytes.Length), connection, sink, isHead, ref head);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
        return afterHead;
    }

    private static void Parse(ReadOnlySpan<byte> head, Http1Connection connection, IResponseHeadSink sink, bool isHead, ref ResponseHead result)
    {
        var lineEnd = head.IndexOf("\r\n"u8);
        var statusLine = lineEnd < 0 ? head : head[..lineEnd];
        // HTTP/1.x SP 3DIGIT [SP reason]
        if (statusLine.Length < 12 || !statusLine.StartsWith("HTTP/1."u8) || (statusLine[7] != '0' && statusLine[7] != '1') || statusLine[8] != ' '
            || !IsDigit(statusLine[9]) || !IsDigit(statusLine[10]) || !IsDigit(statusLine[11]) || (statusLine.Length > 12 && statusLine[12] != ' '))
        {
            throw Invalid("The upstream's status line is malformed.");
        }
        var status = (statusLine[9] - '0') * 100 + (statusLine[10] - '0') * 10 + (statusLine[11] - '0');
        if (status < 100) throw Invalid("The upstream's status code is out of range.");
        result.Status = status;
        result.KeepAlive = statusLine[7] == '1';
        var interim = status < 200;
        if (!interim) sink.Status(status, statusLine.Length > 13 ? statusLine[13..] : default);

        long? length = null;
        var chunked = false;
        var otherCoding = false;
        string? connectionNames = null;
        var rest = lineEnd < 0 ? default : head[(lineEnd + 2)..];
        while (rest.Length > 0)
        {
            var end = rest.IndexOf("\r\n"u8);
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? default : rest[(end + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0) throw Invalid("The upstream sent a malformed header line.");
            var name = line[..colon];
            if (name.IndexOfAnyExcept(TokenBytes) >= 0) throw Invalid("The upstream sent a header with an invalid name.");
            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (value.IndexOfAny((byte)'\r', (byte)'\n', (byte)0) >= 0) throw Invalid("The upstream sent a header value with control characters.");
            if (interim) continue;

            var slot = Http1HeaderNames.Find(name);
            switch (slot)
            {
                case Http1HeaderNames.ContentLength:
                    if (!Utf8Parser.TryParse(value, out long parsed, out var used) || used != value.Length || parsed < 0 || (length is { } seen && seen != parsed))
                    {
                        throw Invalid("The upstream sent an invalid Content-Length.");
                    }
                    length = parsed;
                    continue;
                case Http1HeaderNames.TransferEncoding:
                    // Only chunked is understood as framing; as HttpClient, chunked must be the last coding.
                    var last = value.LastIndexOf((byte)',');
                    var coding = (last < 0 ? value : value[(last + 1)..]).Trim(" \t"u8);
                    if (System.Text.Ascii.EqualsIgnoreCase(coding, "chunked"u8)) chunked = true;
                    else otherCoding = true;
                    continue;
                case Http1HeaderNames.Connection:
                    foreach (var range in value.Split((byte)','))
                    {
                        var token = value[range].Trim(" \t"u8);
                        if (System.Text.Ascii.EqualsIgnoreCase(token, "close"u8)) result.KeepAlive = false;
                        else if (System.Text.Ascii.EqualsIgnoreCase(token, "keep-alive"u8)) result.KeepAlive = true;
                        else if (token.Length > 0) connectionNames = connectionNames is null ? connection.Value(-1, value) : connectionNames;
                    }
                    continue;
            }
            if (Http1HeaderNames.IsHopByHop(slot, name)) continue;
            sink.Header(slot, name, value);
        }
        if (interim) return;

        // Names a Connection header lists are hop-by-hop too (RFC 9110 section 7.6.1), Upgrade aside.
        if (connectionNames is not null) sink.RemoveConnectionListed(connectionNames);

        if (isHead || status is StatusCodes.Status204NoContent or StatusCodes.Status304NotModified)
        {
            result.Body = ResponseBody.None;
            // A HEAD answer's length describes the GET answer, as YARP passes it on; 204 has none to give.
            if (length is { } declared && !chunked && status != StatusCodes.Status204NoContent) result.Length = declared;
            else result.Length = -1;
        }
        else if (chunked)
        {
            // Transfer-Encoding wins over Content-Length, which is then not passed on (RFC 9112 section 6.3).
            result.Body = ResponseBody.Chunked;
        }
        else if (otherCoding)
        {
            result.Body = ResponseBody.UntilClose;
        }
        else if (length is { } declared)
        {
            result.Body = declared == 0 ? ResponseBody.None : ResponseBody.ContentLength;
            result.Length = declared;
        }
        else
        {
            result.Body = ResponseBody.UntilClose;
        }
        if (result.Body == ResponseBody.UntilClose) result.KeepAlive = false;
        sink.Framed(result);
    }

    /// <summary>
    /// HttpContext.Response as the sink: the headers as YARP's transformer copies them, values added to any the gateway set.
    /// One per connection (<see cref="Http1Connection.ContextSink"/>), given the request it serves now.
    /// </summary>
    internal sealed class ContextSink(Http1Connection connection) : IResponseHeadSink
    {
        private HttpContext _context = null!;

        public ContextSink For(HttpContext request)
        {
            _context = request;
            return this;
        }

        public void Status(int status, ReadOnlySpan<byte> reason)
        {
            _context.Response.StatusCode = status;
            // As YARP: an HTTP/1.1 client gets the upstream's own reason phrase when it is not the standard one.
            if (HttpProtocol.IsHttp11(_context.Request.Protocol) || HttpProtocol.IsHttp10(_context.Request.Protocol))
            {
                var standard = ReasonPhrases.GetReasonPhrase(status);
                if (reason.Length != standard.Length || !System.Text.Ascii.Equals(reason, standard))
                {
                    _context.Features.Get<IHttpResponseFeature>()!.ReasonPhrase = System.Text.Encoding.Latin1.GetString(reason);
                }
            }
        }

        public void Header(int slot, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            var headers = _context.Response.Headers;
            var headerName = slot >= 0 ? Http1HeaderNames.Name(slot) : System.Text.Encoding.Latin1.GetString(name);
            var current = headers[headerName];
            // As YARP (dotnet/yarp#2269): a Strict-Transport-Security the gateway set is not doubled.
            if (current.Count > 0 && slot == Http1HeaderNames.StrictTransportSecurity) return;
            headers[headerName] = StringValues.Concat(current, connection.Value(slot, value));
        }

        public void RemoveConnectionListed(string names)
        {
            foreach (var range in names.AsSpan().Split(','))
            {
                var token = names.AsSpan()[range].Trim();
                if (token.Length > 0 && !token.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase)) _context.Response.Headers.Remove(token.ToString());
            }
        }

        public void Framed(ResponseHead head)
        {
            if (head.Body == ResponseBody.ContentLength || (head.Body == ResponseBody.None && head.Length >= 0)) _context.Response.ContentLength = head.Length;
        }
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';

    private static readonly SearchValues<byte> TokenBytes = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    private static HttpRequestException Invalid(string message) => new(HttpRequestError.InvalidResponse, message);

    private static HttpRequestException HeadTooLong() =>
        new(HttpRequestError.ConfigurationLimitExceeded, $"The upstream's response headers are longer than {MaxHeadBytes / 1024} KiB.");
}

/// <summary>Where a response head's final status and end-to-end headers go: the request's HttpResponse, or the direct front end's client.</summary>
internal interface IResponseHeadSink
{
    /// <summary>The final status and the reason phrase as sent (empty when none).</summary>
    void Status(int status, ReadOnlySpan<byte> reason);

    /// <summary>An end-to-end header (framing, Connection and hop-by-hop names are not given); <paramref name="slot"/> is its <see cref="Http1HeaderNames"/> slot or -1.</summary>
    void Header(int slot, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value);

    /// <summary>The Connection header listed these names (comma-separated): they are hop-by-hop too, Upgrade aside.</summary>
    void RemoveConnectionListed(string names);

    /// <summary>After the headers: how the body follows. <see cref="ResponseHead.Length"/> is the length to pass on, or -1 for none.</summary>
    void Framed(ResponseHead head);
}

/// <summary>The upstream closed the connection (FIN or reset) before any byte of the response.</summary>
internal sealed class Http1ConnectionClosedException(Exception? inner)
    : HttpRequestException(HttpRequestError.ResponseEnded, "The upstream closed the connection before answering.", inner);
