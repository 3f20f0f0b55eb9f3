using System.Buffers;
using System.Text;

namespace Meshgate.Proxy.FrontEnd;

/// <summary>What <see cref="RequestHead.Parse"/> concluded about the bytes at the start of a buffer.</summary>
internal enum HeadVerdict
{
    /// <summary>The head is not complete and nothing in its complete lines rules it out: read more.</summary>
    Incomplete,

    /// <summary>A complete GET or HEAD head that the direct front end may serve itself.</summary>
    Eligible,

    /// <summary>Anything else: Kestrel's HTTP layer serves the connection from these bytes on.</summary>
    HandOff,
}

/// <summary>
/// Parses an HTTP/1.1 request head straight from the bytes a client sent, for the direct front end.
/// It never reports an error: a head it does not fully understand is handed off to Kestrel, which
/// then answers whatever is right. It is strict on purpose (being lax here would be request
/// smuggling or header injection), so it accepts only origin-form GET and HEAD with a plain path,
/// one valid Host and no framing or upgrade headers.
/// One per connection, reused for each request (no allocation per request in the steady state).
/// </summary>
internal sealed class RequestHead
{
    /// <summary>Heads longer than this are handed off (Kestrel's limits are larger, so it decides).</summary>
    public const int MaxHeadBytes = 8 * 1024;

    /// <summary>More header lines than this are handed off (Kestrel's MaxRequestHeaderCount default is 100).</summary>
    public const int MaxHeaders = 64;

    // RFC 3986 unreserved and the sub-delims that need no decoding, plus ':' '@' '/'. No '%' (the
    // gateway's path rules decode and check it), no ';' (path parameters), no '\' (some backends read it as '/').
    private static readonly SearchValues<byte> PathBytes =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/"u8);

    private static readonly SearchValues<byte> QueryBytes =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/?%"u8);

    // RFC 9110 tchar without '_': names with an underscore are the gateway's to refuse (they can alias
    // '-' names in CGI-style backends).
    private static readonly SearchValues<byte> NameBytes =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^`|~"u8);

    // VCHAR, SP and HTAB: no obs-text, no other CTL, no DEL.
    private static readonly SearchValues<byte> ValueBytes = SearchValues.Create(ValueByteTable());

    private static readonly SearchValues<byte> Ows = SearchValues.Create(" \t"u8);

    // A Host's reg-name or IPv4 address; ':' '[' ']' are checked by their position.
    private static readonly SearchValues<byte> HostNameBytes =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;="u8);

    private static readonly SearchValues<byte> Ipv6Bytes = SearchValues.Create("0123456789ABCDEFabcdef:."u8);

    private static readonly SearchValues<byte> Digits = SearchValues.Create("0123456789"u8);

    private enum HeaderKind
    {
        Other,
        Host,
        Connection,
        Authorization,

        /// <summary>Framing, upgrade or hop-by-hop semantics the front end does not implement.</summary>
        Forbidden,
    }

    private readonly int[] _nameStart = new int[MaxHeaders];
    private readonly int[] _nameEnd = new int[MaxHeaders];
    private readonly int[] _valueStart = new int[MaxHeaders];
    private readonly int[] _valueEnd = new int[MaxHeaders];

    /// <summary>The head's length in bytes, including the blank line's CRLF; 0 unless the last verdict was Eligible.</summary>
    public int Length { get; private set; }

    /// <summary>True when the method is HEAD; otherwise it is GET.</summary>
    public bool IsHead { get; private set; }

    /// <summary>The client said Connection: close: the connection ends after this answer.</summary>
    public bool Close { get; private set; }

    /// <summary>"GET" or "HEAD" within the buffer.</summary>
    public Range Method { get; private set; }

    /// <summary>The request target's path: starts with '/', no query.</summary>
    public Range Path { get; private set; }

    /// <summary>The query including its leading '?', or the empty range 0..0 when there is none.</summary>
    public Range Query { get; private set; }

    /// <summary>The Host header's value, trimmed of OWS.</summary>
    public Range Host { get; private set; }

    /// <summary>How many header lines other than Host the head has.</summary>
    public int HeaderCount { get; private set; }

    /// <summary>The <paramref name="i"/>-th header's name (Host excluded), in the order they were sent.</summary>
    public Range Name(int i)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(i);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(i, HeaderCount);
        return new Range(_nameStart[i], _nameEnd[i]);
    }

    /// <summary>The <paramref name="i"/>-th header's value, trimmed of leading and trailing SP/HTAB (may be empty).</summary>
    public Range Value(int i)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(i);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(i, HeaderCount);
        return new Range(_valueStart[i], _valueEnd[i]);
    }

    /// <summary>
    /// Parses the head at the start of <paramref name="buffer"/> (contiguous bytes as read from the client).
    /// Eligible: <see cref="Length"/> and the ranges describe the head. Incomplete: the head has not ended
    /// within the bytes given, fewer than <see cref="MaxHeadBytes"/> were given, and no complete line so far
    /// rules it out. HandOff: anything else, including a head that has not ended within <see cref="MaxHeadBytes"/>.
    /// After a verdict other than Eligible the properties are reset (Length 0, no headers).
    /// </summary>
    public HeadVerdict Parse(ReadOnlySpan<byte> buffer)
    {
        var verdict = ParseCore(buffer);
        if (verdict != HeadVerdict.Eligible)
        {
            // A caller that reads a range after a failed parse must not see the previous request's.
            Length = 0;
            IsHead = false;
            Close = false;
            Method = default;
            Path = default;
            Query = default;
            Host = default;
            HeaderCount = 0;
        }

        return verdict;
    }

    private HeadVerdict ParseCore(ReadOnlySpan<byte> buffer)
    {
        // Only a head that ends within MaxHeadBytes is ours; the rest of the buffer may be the next request.
        var window = buffer.Length > MaxHeadBytes ? buffer[..MaxHeadBytes] : buffer;
        HeaderCount = 0;

        var verdict = NextLine(window, buffer.Length, 0, out var lineEnd);
        if (verdict != HeadVerdict.Eligible) return verdict;
        var line = window[..lineEnd];

        bool isHead;
        int targetStart;
        if (line.StartsWith("GET "u8))
        {
            isHead = false;
            targetStart = 4;
        }
        else if (line.StartsWith("HEAD "u8))
        {
            isHead = true;
            targetStart = 5;
        }
        else
        {
            return HeadVerdict.HandOff;
        }

        // Origin-form only: absolute-form, authority-form and '*' are Kestrel's.
        var rest = line[targetStart..];
        if (rest.IsEmpty || rest[0] != '/') return HeadVerdict.HandOff;
        var pathLength = rest.IndexOfAnyExcept(PathBytes);
        if (pathLength < 0) return HeadVerdict.HandOff;
        var path = rest[..pathLength];

        // "//" and "." / ".." segments are rewritten or refused by the gateway's path rules; a segment
        // ending in '.' is one that some file systems (Windows) read without the dot.
        if (path.IndexOf("//"u8) >= 0 || path.IndexOf("./"u8) >= 0 || path[^1] == '.') return HeadVerdict.HandOff;

        var pathEnd = targetStart + pathLength;
        var query = new Range(0, 0);
        rest = rest[pathLength..];
        if (rest[0] == '?')
        {
            var queryLength = rest[1..].IndexOfAnyExcept(QueryBytes);
            if (queryLength < 0) return HeadVerdict.HandOff;
            queryLength++;
            if (!IsPercentEncodingValid(rest[..queryLength])) return HeadVerdict.HandOff;
            query = new Range(pathEnd, pathEnd + queryLength);
            rest = rest[queryLength..];
        }

        // Exactly one SP, then the version and nothing after it (HTTP/1.0 lacks keep-alive defaults we rely on).
        if (!rest.SequenceEqual(" HTTP/1.1"u8)) return HeadVerdict.HandOff;

        var position = lineEnd + 2;
        var lines = 0;
        var hostStart = -1;
        var hostEnd = -1;
        var authorizationSeen = false;
        var close = false;
        while (true)
        {
            verdict = NextLine(window, buffer.Length, position, out lineEnd);
            if (verdict != HeadVerdict.Eligible) return verdict;
            if (lineEnd == position) break; // the blank line

            if (++lines > MaxHeaders) return HeadVerdict.HandOff;
            var lineStart = position;
            position = lineEnd + 2;
            line = window[lineStart..lineEnd];

            // A name of token characters directly followed by ':'. This refuses an empty name, whitespace
            // before the colon (RFC 9112 5.1), an obs-fold line (starts with SP/HTAB) and an underscore.
            var colon = line.IndexOfAnyExcept(NameBytes);
            if (colon <= 0 || line[colon] != ':') return HeadVerdict.HandOff;

            var rawValue = line[(colon + 1)..];
            if (rawValue.IndexOfAnyExcept(ValueBytes) >= 0) return HeadVerdict.HandOff;

            var valueStart = lineStart + colon + 1;
            var valueEnd = lineEnd;
            var first = rawValue.IndexOfAnyExcept(Ows);
            if (first < 0)
            {
                valueStart = lineEnd;
            }
            else
            {
                valueEnd = valueStart + rawValue.LastIndexOfAnyExcept(Ows) + 1;
                valueStart += first;
            }

            var name = line[..colon];
            var value = window[valueStart..valueEnd];
            switch (Classify(name))
            {
                case HeaderKind.Host:
                    if (hostStart >= 0 || !IsHostValid(value)) return HeadVerdict.HandOff;
                    hostStart = valueStart;
                    hostEnd = valueEnd;
                    continue;
                case HeaderKind.Forbidden:
                    return HeadVerdict.HandOff;
                case HeaderKind.Connection:
                    if (!IsKeepAliveOrClose(value, ref close)) return HeadVerdict.HandOff;
                    break;
                case HeaderKind.Authorization:
                    // Two credentials: which one a backend reads is its choice, so neither is ours to pass on.
                    if (authorizationSeen) return HeadVerdict.HandOff;
                    authorizationSeen = true;
                    break;
            }

            var index = HeaderCount++;
            _nameStart[index] = lineStart;
            _nameEnd[index] = lineStart + colon;
            _valueStart[index] = valueStart;
            _valueEnd[index] = valueEnd;
        }

        if (hostStart < 0) return HeadVerdict.HandOff;

        Length = lineEnd + 2;
        IsHead = isHead;
        Close = close;
        Method = new Range(0, targetStart - 1);
        Path = new Range(targetStart, pathEnd);
        Query = query;
        Host = new Range(hostStart, hostEnd);
        return HeadVerdict.Eligible;
    }

    /// <summary>
    /// Finds the line that starts at <paramref name="start"/>: Eligible with <paramref name="lineEnd"/> at its CR
    /// when it ends with CRLF; HandOff for a bare LF, a lone CR or no end within <see cref="MaxHeadBytes"/>; else Incomplete.
    /// </summary>
    private static HeadVerdict NextLine(ReadOnlySpan<byte> window, int bufferLength, int start, out int lineEnd)
    {
        lineEnd = -1;
        var tail = window[start..];
        var lf = tail.IndexOf((byte)'\n');
        if (lf < 0)
        {
            if (bufferLength >= MaxHeadBytes) return HeadVerdict.HandOff;

            // A CR that is not the last byte is not followed by LF; waiting would not change that, and a
            // client that ends lines with CR alone would otherwise wait for an answer that never comes.
            var cr = tail.IndexOf((byte)'\r');
            return cr >= 0 && cr != tail.Length - 1 ? HeadVerdict.HandOff : HeadVerdict.Incomplete;
        }

        // A bare LF is handed off at once for the same reason: such a head never contains CRLFCRLF.
        if (lf == 0 || tail[lf - 1] != '\r') return HeadVerdict.HandOff;

        // A CR inside the line is lone; the character classes of every part refuse it, so it is not searched for here.
        lineEnd = start + lf - 1;
        return HeadVerdict.Eligible;
    }

    private static HeaderKind Classify(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 when Ascii.EqualsIgnoreCase(name, "TE"u8) => HeaderKind.Forbidden,
        4 when Ascii.EqualsIgnoreCase(name, "Host"u8) => HeaderKind.Host,
        6 when Ascii.EqualsIgnoreCase(name, "Expect"u8) => HeaderKind.Forbidden,
        7 when Ascii.EqualsIgnoreCase(name, "Upgrade"u8) || Ascii.EqualsIgnoreCase(name, "Trailer"u8) => HeaderKind.Forbidden,
        10 when Ascii.EqualsIgnoreCase(name, "Connection"u8) => HeaderKind.Connection,
        13 when Ascii.EqualsIgnoreCase(name, "Authorization"u8) => HeaderKind.Authorization,
        14 when Ascii.EqualsIgnoreCase(name, "Content-Length"u8) || Ascii.EqualsIgnoreCase(name, "HTTP2-Settings"u8) => HeaderKind.Forbidden,
        16 when Ascii.EqualsIgnoreCase(name, "Proxy-Connection"u8) => HeaderKind.Forbidden,
        17 when Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8) => HeaderKind.Forbidden,
        _ => HeaderKind.Other,
    };

    /// <summary>Every '%' in the query starts a %XX escape; anything else is Kestrel's (and the backend's) to judge.</summary>
    private static bool IsPercentEncodingValid(ReadOnlySpan<byte> query)
    {
        var percent = query.IndexOf((byte)'%');
        while (percent >= 0)
        {
            if (percent + 2 >= query.Length || !char.IsAsciiHexDigit((char)query[percent + 1]) || !char.IsAsciiHexDigit((char)query[percent + 2]))
                return false;
            query = query[(percent + 3)..];
            percent = query.IndexOf((byte)'%');
        }

        return true;
    }

    /// <summary>
    /// A reg-name or IPv4 address, or an IPv6 literal in brackets, optionally followed by ':' and a port of
    /// one or more digits. Stricter than the character list alone: one ':' outside brackets, brackets only
    /// around the whole address, no empty port.
    /// </summary>
    private static bool IsHostValid(ReadOnlySpan<byte> host)
    {
        if (host.IsEmpty) return false;
        ReadOnlySpan<byte> rest;
        if (host[0] == '[')
        {
            var close = host.IndexOf((byte)']');
            if (close < 2 || host[1..close].IndexOfAnyExcept(Ipv6Bytes) >= 0) return false;
            rest = host[(close + 1)..];
        }
        else
        {
            var nameLength = host.IndexOfAnyExcept(HostNameBytes);
            if (nameLength < 0) return true;
            if (nameLength == 0) return false;
            rest = host[nameLength..];
        }

        if (rest.IsEmpty) return true;
        return rest.Length > 1 && rest[0] == ':' && rest[1..].IndexOfAnyExcept(Digits) < 0;
    }

    /// <summary>
    /// Only "keep-alive" and "close" tokens (<paramref name="close"/> set by a close): upgrade and header names listed as
    /// hop-by-hop change what the front end must do.
    /// </summary>
    private static bool IsKeepAliveOrClose(ReadOnlySpan<byte> value, ref bool close)
    {
        while (true)
        {
            var comma = value.IndexOf((byte)',');
            var token = (comma < 0 ? value : value[..comma]).Trim(" \t"u8);
            if (Ascii.EqualsIgnoreCase(token, "close"u8)) close = true;
            else if (!Ascii.EqualsIgnoreCase(token, "keep-alive"u8)) return false;
            if (comma < 0) return true;
            value = value[(comma + 1)..];
        }
    }

    private static byte[] ValueByteTable()
    {
        var bytes = new byte[0x7E - 0x20 + 2];
        for (var b = 0x20; b <= 0x7E; b++) bytes[b - 0x20] = (byte)b;
        bytes[^1] = (byte)'\t';
        return bytes;
    }
}
