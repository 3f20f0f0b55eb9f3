using System.Buffers;

namespace Meshgate.Proxy.RequestHygiene;

/// <summary>Why the connection filter refused a request's framing; <see cref="None"/> when it did not.</summary>
internal enum FramingViolation
{
    None,
    ContentLengthAndTransferEncoding,
    InvalidContentLength,
    RepeatedContentLength,
    InvalidTransferEncoding,
    RepeatedTransferEncoding,
    BareLineFeed,
    InvalidChunkSize,
    ChunkSizeOverflow,
    InvalidChunkExtension,
    ChunkSizeLineTooLong,
    MissingCrLfAfterChunkData,
}

/// <summary>
/// Follows the framing of an HTTP/1.1 request stream byte by byte, one step ahead of Kestrel's
/// parser: each request head, then its body by Content-Length or by chunks (size line, data, CRLF,
/// last chunk, trailer section), then the next head. It says how far the bytes may go on to Kestrel
/// (<see cref="Released"/>): a head, a chunk-size line and a trailer section are held until they are
/// complete and checked, so a request refused here never reaches Kestrel whole; body bytes go on as
/// they arrive. Offsets are from the start of the buffer the reader currently holds; the reader
/// reports what Kestrel consumed through <see cref="Consumed"/>. One instance per connection, reused
/// for every request on it: the steady state allocates nothing.
/// </summary>
internal sealed class RequestFramingScanner(long maxHeldHead)
{
    /// <summary>A chunk-size line longer than this is refused; real ones are a few bytes (Kestrel's own prefix limit is 10 digits).</summary>
    public const int MaxChunkSizeLine = 4096;

    private enum State
    {
        Head,
        ContentLengthBody,
        ChunkSizeLine,
        ChunkData,
        ChunkDataCr,
        ChunkDataLf,
        Trailers,
        PassThrough,
    }

    private State _state = State.Head;
    private long _lineStart;
    private long _remaining;
    private bool _firstHead = true;

    // What the current head said, reset at each head.
    private bool _requestLineSeen;
    private bool _hasContentLength;
    private bool _hasTransferEncoding;
    private bool _upgradeOrConnect;
    private long _contentLength;

    /// <summary>How far the bytes have been looked at.</summary>
    public long Scanned { get; private set; }

    /// <summary>How far the bytes may go on to Kestrel.</summary>
    public long Released { get; private set; }

    public FramingViolation Violation { get; private set; }

    /// <summary>True once the connection is no longer HTTP/1.1 request framing (an upgrade, CONNECT, HTTP/2 preface) or a head is past Kestrel's limits.</summary>
    public bool PassingThrough => _state == State.PassThrough;

    /// <summary>Kestrel consumed <paramref name="bytes"/> from the start of the buffer: every offset moves back by as much.</summary>
    public void Consumed(long bytes)
    {
        Scanned -= bytes;
        Released -= bytes;
        _lineStart -= bytes;
    }

    /// <summary>Looks at <paramref name="buffer"/> from <see cref="Scanned"/> to its end, or until a violation.</summary>
    public void Scan(in ReadOnlySequence<byte> buffer)
    {
        while (Violation == FramingViolation.None && Scanned < buffer.Length)
        {
            switch (_state)
            {
                case State.PassThrough:
                    Scanned = Released = buffer.Length;
                    return;
                case State.ContentLengthBody or State.ChunkData:
                    var take = Math.Min(_remaining, buffer.Length - Scanned);
                    Scanned += take;
                    Released = Scanned;
                    _remaining -= take;
                    if (_remaining == 0)
                    {
                        if (_state == State.ContentLengthBody) StartHead();
                        else _state = State.ChunkDataCr;
                    }
                    break;
                case State.ChunkDataCr or State.ChunkDataLf:
                    // RFC 9112 7.1: chunk-data is followed by exactly CRLF.
                    var expected = _state == State.ChunkDataCr ? (byte)'\r' : (byte)'\n';
                    if (ByteAt(buffer, Scanned) != expected)
                    {
                        Violation = FramingViolation.MissingCrLfAfterChunkData;
                        return;
                    }
                    Scanned++;
                    Released = Scanned;
                    if (_state == State.ChunkDataCr) _state = State.ChunkDataLf;
                    else StartChunkSizeLine();
                    break;
                default:
                    if (!ScanLine(buffer)) return;
                    break;
            }
        }
    }

    /// <summary>Finds the end of the current line (head, chunk-size or trailer line); false when it is not in the buffer yet.</summary>
    private bool ScanLine(in ReadOnlySequence<byte> buffer)
    {
        var rest = buffer.Slice(Scanned);
        var lf = rest.PositionOf((byte)'\n');
        if (lf is null)
        {
            Scanned = buffer.Length;
            CheckHeldLength();
            return false;
        }
        // Not buffer.GetOffset: on a single segment it counts from the segment's start, not the sequence's.
        Scanned += rest.Slice(0, lf.Value).Length + 1;
        var line = buffer.Slice(_lineStart, Scanned - _lineStart);
        _lineStart = Scanned;
        if (_state == State.ChunkSizeLine && line.Length > MaxChunkSizeLine)
        {
            Violation = FramingViolation.ChunkSizeLineTooLong;
            return false;
        }
        if (line.Length < 2 || ByteAt(line, line.Length - 2) != '\r')
        {
            // RFC 9112 2.2: Meshgate takes a line end to be CRLF only, as Kestrel does with the switch Meshgate sets.
            Violation = FramingViolation.BareLineFeed;
            return false;
        }
        switch (_state)
        {
            case State.Head: OnHeadLine(line); break;
            case State.ChunkSizeLine: OnChunkSizeLine(line); break;
            default: OnTrailerLine(line); break;
        }
        if (Violation == FramingViolation.None) CheckHeldLength();
        return Violation == FramingViolation.None;
    }

    /// <summary>
    /// A head (or trailer section) is held, but never more of it than Kestrel itself would take: past
    /// its request-line plus header limits Kestrel refuses the head (414 or 431) and closes, so the
    /// bytes go on to it, and inspection stops. A chunk-size line that long is refused here.
    /// </summary>
    private void CheckHeldLength()
    {
        if (_state == State.ChunkSizeLine)
        {
            if (Scanned - _lineStart > MaxChunkSizeLine) Violation = FramingViolation.ChunkSizeLineTooLong;
        }
        else if (_state is State.Head or State.Trailers && Scanned - Released > maxHeldHead)
        {
            _state = State.PassThrough;
            Released = Scanned;
        }
    }

    private void OnHeadLine(in ReadOnlySequence<byte> line)
    {
        if (line.Length == 2)
        {
            // RFC 9112 2.2: empty lines before a request line are skipped (Kestrel does too), and not held.
            if (!_requestLineSeen) Released = Scanned;
            else EndHead();
            return;
        }
        Span<byte> scratch = stackalloc byte[256];
        if (!_requestLineSeen)
        {
            _requestLineSeen = true;
            var first = ByteAt(line, 0);
            if (first is not ((byte)'C' or (byte)'P')) return;
            var requestLine = Contiguous(line, scratch, out var rented);
            // The HTTP/2 prior-knowledge preface is Kestrel's (Http1AndHttp2 on cleartext); CONNECT makes a tunnel.
            if (_firstHead && requestLine.SequenceEqual("PRI * HTTP/2.0\r\n"u8)) _state = State.PassThrough;
            _upgradeOrConnect = requestLine.StartsWith("CONNECT "u8);
            Return(rented);
            if (_state == State.PassThrough) Released = Scanned;
            return;
        }
        // Only four field names matter to framing; the first byte rules out the rest without a copy.
        var firstLower = ByteAt(line, 0) | 0x20;
        if (firstLower != 'c' && firstLower != 't') return;
        var field = Contiguous(line, scratch, out var rentedField);
        OnFramingField(field[..^2]);
        Return(rentedField);
    }

    private void OnFramingField(ReadOnlySpan<byte> field)
    {
        var colon = field.IndexOf((byte)':');
        if (colon < 0) return; // Kestrel refuses a field line without a colon.
        var name = field[..colon];
        var value = field[(colon + 1)..].Trim(" \t"u8);
        if (System.Text.Ascii.EqualsIgnoreCase(name, "content-length"u8))
        {
            // RFC 9110 8.6: Content-Length = 1*DIGIT, once. Kestrel parses "+5" as 5: refused here.
            if (_hasContentLength) Violation = FramingViolation.RepeatedContentLength;
            else if (!TryParseDigits(value, out _contentLength)) Violation = FramingViolation.InvalidContentLength;
            else if (_hasTransferEncoding) Violation = FramingViolation.ContentLengthAndTransferEncoding;
            _hasContentLength = true;
        }
        else if (System.Text.Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
        {
            // RFC 9112 6.1: a proxy must not let both frame a request (Kestrel drops Content-Length). Policy, as
            // nginx: the only coding accepted is a single "chunked", so "gzip, chunked" is refused too.
            if (_hasTransferEncoding) Violation = FramingViolation.RepeatedTransferEncoding;
            else if (!System.Text.Ascii.EqualsIgnoreCase(value, "chunked"u8)) Violation = FramingViolation.InvalidTransferEncoding;
            else if (_hasContentLength) Violation = FramingViolation.ContentLengthAndTransferEncoding;
            _hasTransferEncoding = true;
        }
        else if (System.Text.Ascii.EqualsIgnoreCase(name, "connection"u8) && ContainsUpgrade(value))
        {
            // Kestrel treats any request with Connection: upgrade as upgradable and, if it is upgraded, the
            // bytes after the head are no longer HTTP: from here on they pass unread. RequestHygieneMiddleware
            // closes the connection after such a request that was not upgraded, so no request follows uninspected.
            _upgradeOrConnect = true;
        }
    }

    private void EndHead()
    {
        _firstHead = false;
        if (_upgradeOrConnect)
        {
            _state = State.PassThrough;
            Released = Scanned;
            return;
        }
        if (_hasTransferEncoding) StartChunkSizeLine();
        else if (_hasContentLength && _contentLength > 0)
        {
            _state = State.ContentLengthBody;
            _remaining = _contentLength;
            Released = Scanned;
        }
        else StartHead();
    }

    private void StartHead()
    {
        _state = State.Head;
        _lineStart = Released = Scanned;
        _requestLineSeen = _hasContentLength = _hasTransferEncoding = _upgradeOrConnect = false;
        _contentLength = 0;
    }

    private void StartChunkSizeLine()
    {
        _state = State.ChunkSizeLine;
        _lineStart = Released = Scanned;
    }

    private void OnChunkSizeLine(in ReadOnlySequence<byte> line)
    {
        Span<byte> scratch = stackalloc byte[256];
        var span = Contiguous(line, scratch, out var rented);
        var size = ParseChunkSizeLine(span[..^2], out var violation);
        Return(rented);
        if (violation != FramingViolation.None)
        {
            Violation = violation;
            return;
        }
        Released = Scanned;
        if (size == 0)
        {
            _state = State.Trailers;
            return;
        }
        _state = State.ChunkData;
        _remaining = size;
    }

    private void OnTrailerLine(in ReadOnlySequence<byte> line)
    {
        // Trailer fields are Kestrel's to check; only the end of the section matters to framing.
        if (line.Length == 2) StartHead();
    }

    /// <summary>
    /// RFC 9112 7.1 and 7.1.1: chunk-size = 1*HEXDIG, then
    /// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
    /// chunk-ext-name = token, chunk-ext-val = token / quoted-string. Kestrel skips extensions unread.
    /// </summary>
    internal static long ParseChunkSizeLine(ReadOnlySpan<byte> line, out FramingViolation violation)
    {
        violation = FramingViolation.None;
        long size = 0;
        var i = 0;
        for (; i < line.Length && IsHexDigit(line[i]); i++)
        {
            if (size > long.MaxValue >> 4)
            {
                violation = FramingViolation.ChunkSizeOverflow;
                return 0;
            }
            size = (size << 4) | HexValue(line[i]);
        }
        if (i == 0 || (i < line.Length && line[i] is not ((byte)';' or (byte)' ' or (byte)'\t')))
        {
            violation = FramingViolation.InvalidChunkSize;
            return 0;
        }
        while (i < line.Length)
        {
            i = SkipWhitespace(line, i);
            if (i == line.Length || line[i] != ';') return Invalid(out violation);
            i = SkipWhitespace(line, i + 1);
            var nameEnd = SkipToken(line, i);
            if (nameEnd == i) return Invalid(out violation);
            i = nameEnd;
            var afterSpace = SkipWhitespace(line, i);
            if (afterSpace == line.Length || line[afterSpace] != '=') continue;
            i = SkipWhitespace(line, afterSpace + 1);
            var valueEnd = i < line.Length && line[i] == '"' ? SkipQuotedString(line, i) : SkipToken(line, i);
            if (valueEnd <= i) return Invalid(out violation);
            i = valueEnd;
        }
        return size;

        static long Invalid(out FramingViolation violation)
        {
            violation = FramingViolation.InvalidChunkExtension;
            return 0;
        }
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> s, int i)
    {
        while (i < s.Length && s[i] is (byte)' ' or (byte)'\t') i++;
        return i;
    }

    private static int SkipToken(ReadOnlySpan<byte> s, int i)
    {
        while (i < s.Length && Common.HttpSyntax.IsTokenChar((char)s[i])) i++;
        return i;
    }

    /// <summary>RFC 9110 5.6.4: the index after the closing quote, or -1 when the string is not well formed.</summary>
    private static int SkipQuotedString(ReadOnlySpan<byte> s, int i)
    {
        for (i++; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '"') return i + 1;
            if (c == '\\')
            {
                // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                if (++i == s.Length || (s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7F) return -1;
            }
            // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
            else if ((c < 0x20 && c != '\t') || c == 0x7F) return -1;
        }
        return -1;
    }

    private static bool TryParseDigits(ReadOnlySpan<byte> value, out long result)
    {
        result = 0;
        if (value.IsEmpty) return false;
        foreach (var c in value)
        {
            if (c is < (byte)'0' or > (byte)'9' || result > (long.MaxValue - 9) / 10) return false;
            result = (result * 10) + (c - '0');
        }
        return true;
    }

    /// <summary>
    /// The "upgrade" token in a Connection list, as Kestrel reads it. Never wider than Kestrel: a request the filter
    /// stops reading after must be one Kestrel (and so RequestHygieneMiddleware) treats as upgradable.
    /// </summary>
    private static bool ContainsUpgrade(ReadOnlySpan<byte> value)
    {
        foreach (var range in value.Split((byte)','))
        {
            if (System.Text.Ascii.EqualsIgnoreCase(value[range].Trim(" \t"u8), "upgrade"u8)) return true;
        }
        return false;
    }

    private static bool IsHexDigit(byte c) => char.IsAsciiHexDigit((char)c);

    private static long HexValue(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private static byte ByteAt(in ReadOnlySequence<byte> buffer, long offset)
    {
        if (buffer.IsSingleSegment) return buffer.FirstSpan[(int)offset];
        var reader = new SequenceReader<byte>(buffer);
        reader.Advance(offset);
        reader.TryPeek(out var value);
        return value;
    }

    /// <summary>The line as one span: itself when it sits in one segment (nearly always), else copied to scratch or a pooled array.</summary>
    private static ReadOnlySpan<byte> Contiguous(in ReadOnlySequence<byte> line, Span<byte> scratch, out byte[]? rented)
    {
        rented = null;
        if (line.IsSingleSegment) return line.FirstSpan;
        var length = (int)line.Length;
        var target = scratch;
        if (length > scratch.Length) target = rented = ArrayPool<byte>.Shared.Rent(length);
        line.CopyTo(target);
        return target[..length];
    }

    private static void Return(byte[]? rented)
    {
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
    }
}
