using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Meshgate.Proxy.Observability.Tracing;
using Meshgate.Proxy.Transforms;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>How the forwarded request's body is framed.</summary>
internal enum RequestBody
{
    None,
    ContentLength,
    Chunked,
}

/// <summary>
/// Writes the request line and headers straight from Kestrel's request into the connection's pipe, as Latin-1
/// bytes, with no intermediate strings: the same request YARP's forwarder would send (the default transformer's
/// header copy, Host, the route's transforms, X-Forwarded-* by <see cref="ForwardedHeadersRule"/>), framed by
/// its own Content-Length or re-chunked when the length is unknown.
/// </summary>
internal static class Http1RequestWriter
{
    private static readonly SearchValues<char> ValidPathChars =
        SearchValues.Create("!$&'()*+,-./0123456789:;=@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~");

    /// <summary>Writes the head (not flushed) and says how the body follows.</summary>
    /// <param name="trace">With tracing on, the request's trace context: its traceparent is written here, naming
    /// <paramref name="attempt"/> (the attempt's client span of a sampled request) or the gateway's span as parent, and the
    /// caller's is not forwarded (nor its tracestate when the gateway started a new trace), as the YARP path's transform
    /// does. Null: headers are copied as they came.</param>
    public static RequestBody WriteHead(PipeWriter writer, HttpContext context, Http1Destination destination, string? destinationHost, ForwarderChoice choice, bool trustedPeer,
        TraceContextFeature? trace = null, Activity? attempt = null)
    {
        var request = context.Request;
        var headers = request.Headers;
        var rules = choice.RequestHeaders;

        // Request line: method, (prefix-replaced) path behind the endpoint's base path, query.
        Ascii(writer, request.Method);
        Bytes(writer, " "u8);
        Bytes(writer, destination.BasePath);
        var path = Path(request.Path, choice);
        if (path.Length > 0) WritePath(writer, path);
        else if (destination.BasePath.Length == 0) Bytes(writer, "/"u8);
        if (request.QueryString.Value is { Length: > 0 } query) Latin1(writer, query);
        Bytes(writer, " HTTP/1.1\r\nHost: "u8);

        if (HostHeader(request, destinationHost, choice) is { } host) Latin1(writer, host);
        else Bytes(writer, destination.Authority);
        Bytes(writer, "\r\n"u8);

        var connection = headers.Connection;
        var listsNames = connection.Count > 0;
        var http2 = HttpProtocol.IsHttp2(request.Protocol) || HttpProtocol.IsHttp3(request.Protocol);
        foreach (var header in headers)
        {
            var name = header.Key;
            if (Http1HeaderNames.HopByHop.Contains(name) || name[0] == ':'
                || string.Equals(name, HeaderNames.Host, StringComparison.OrdinalIgnoreCase)
                || string.Equals(name, HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase)
                // The direct path reads the body from the client itself (Kestrel answers 100-continue), so it does not ask the upstream.
                || string.Equals(name, HeaderNames.Expect, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            if (listsNames && ConnectionHeadersTransform.Lists(connection, name)) continue;
            if (ForwardedHeadersRule.Owns(name, trustedPeer)) continue;
            if (!rules.IsEmpty && rules.Replaces(name)) continue;
            if (trace is not null && Replaced(name, trace)) continue;
            Ascii(writer, name);
            Bytes(writer, ": "u8);
            Values(writer, header.Value, string.Equals(name, HeaderNames.Cookie, StringComparison.OrdinalIgnoreCase) ? "; "u8 : ", "u8);
            if (!rules.IsEmpty && rules.Appended(name) is { } appended)
            {
                Bytes(writer, ", "u8);
                Latin1(writer, appended);
            }
            Bytes(writer, "\r\n"u8);
        }
        if (!rules.IsEmpty) WriteRuleHeaders(writer, headers, rules, trustedPeer);
        // HTTP/2 allows TE: trailers; YARP passes that one value on.
        if (http2 && ConnectionHeadersTransform.ListContains(headers.TE, "trailers")) Bytes(writer, "TE: trailers\r\n"u8);

        WriteForwarded(writer, context, trustedPeer);
        if (trace is not null) WriteTraceParent(writer, trace, attempt);

        var body = Framing(context);
        switch (body)
        {
            case RequestBody.ContentLength:
                Bytes(writer, "Content-Length: "u8);
                Number(writer, request.ContentLength!.Value);
                Bytes(writer, "\r\n\r\n"u8);
                break;
            case RequestBody.Chunked:
                Bytes(writer, "Transfer-Encoding: chunked\r\n\r\n"u8);
                break;
            default:
                // As HttpClient: a method that must have a body says it has none.
                Bytes(writer, HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method) ? "Content-Length: 0\r\n\r\n"u8 : "\r\n"u8);
                break;
        }
        return body;
    }

    /// <summary>
    /// <c>traceparent: 00-{trace id}-{parent}-{flags}</c> from the request's trace context, formatted straight into the
    /// connection's buffer: no Activity, no string (an unsampled request has neither). The parent is the attempt's span
    /// when the request is sampled, else the gateway's span id for the request.
    /// </summary>
    internal static void WriteTraceParent(IBufferWriter<byte> writer, TraceContextFeature trace, Activity? attempt)
    {
        var parent = attempt is null ? trace.SpanId : TraceParent.SpanIdOf(attempt.SpanId);
        writer.Write("traceparent: "u8);
        Span<byte> value = stackalloc byte[TraceParent.Length + 2];
        TraceParent.Format(value, trace.TraceId, parent, trace.Sampled);
        value[TraceParent.Length] = (byte)'\r';
        value[TraceParent.Length + 1] = (byte)'\n';
        writer.Write(value);
    }

    /// <summary>The caller's traceparent, and its tracestate when the gateway did not continue its trace: both replaced by the gateway's.</summary>
    internal static bool Replaced(ReadOnlySpan<char> name, TraceContextFeature trace) =>
        name.Equals(TraceParent.Header, StringComparison.OrdinalIgnoreCase)
        || (!trace.Continued && name.Equals(TraceParent.StateHeader, StringComparison.OrdinalIgnoreCase));

    /// <summary>As <see cref="Replaced(ReadOnlySpan{char}, TraceContextFeature)"/>, for a name as the client sent it.</summary>
    internal static bool Replaced(ReadOnlySpan<byte> name, TraceContextFeature trace) =>
        System.Text.Ascii.EqualsIgnoreCase(name, TraceParent.Header) || (!trace.Continued && System.Text.Ascii.EqualsIgnoreCase(name, TraceParent.StateHeader));

    /// <summary>
    /// The Host header the request carries upstream: a Host the route sets, else the client's with preserveHost, else the
    /// endpoint's host (tls.sni); null for the endpoint address's own authority. The TLS handshake's name is its host too.
    /// </summary>
    public static string? HostHeader(HttpRequest request, string? destinationHost, ForwarderChoice choice) =>
        choice.RequestHeaders.SetValue(HeaderNames.Host)
        ?? (choice.PreserveHost && request.Host.HasValue ? request.Host.Value : null)
        ?? destinationHost;

    /// <summary>The URL the request goes to (for a sampled span's url.full): the endpoint's address, the rewritten path, the query.</summary>
    public static Uri TargetUrl(HttpRequest request, string address, ForwarderChoice choice) =>
        new(string.Concat(address.TrimEnd('/'), Path(request.Path, choice), request.QueryString.Value));

    /// <summary>The path after the route's stripPrefix and replacePrefix (YARP's PathRemovePrefix, then ours); stripping slices, it makes no string.</summary>
    private static ReadOnlySpan<char> Path(PathString path, ForwarderChoice choice)
    {
        var value = path.Value.AsSpan();
        if (choice.StripPrefix.HasValue && path.StartsWithSegments(choice.StripPrefix))
        {
            value = value[choice.StripPrefix.Value!.Length..];
            if (choice.ReplacePrefix is null) return value;
            path = new PathString(value.ToString());
        }
        return choice.ReplacePrefix is { } replace ? replace.Apply(path).Value.AsSpan() : value;
    }

    /// <summary>Whether the request has a body and how to frame it: YARP's decision (the server's body detection), then the client's own framing.</summary>
    private static RequestBody Framing(HttpContext context)
    {
        var request = context.Request;
        var hasBody = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody
            ?? (request.ContentLength > 0 || request.Headers.ContainsKey(HeaderNames.TransferEncoding));
        if (!hasBody) return RequestBody.None;
        // Transfer-Encoding wins over Content-Length (RFC 9112 section 6.3); without either (HTTP/2) the length is unknown.
        if (request.Headers.ContainsKey(HeaderNames.TransferEncoding) || request.ContentLength is null) return RequestBody.Chunked;
        return RequestBody.ContentLength;
    }

    private static void WriteRuleHeaders(PipeWriter writer, IHeaderDictionary incoming, ForwarderChoice.HeaderRules rules, bool trustedPeer)
    {
        foreach (var (name, value) in rules.Set)
        {
            if (string.Equals(name, HeaderNames.Host, StringComparison.OrdinalIgnoreCase) || Removed(rules, name) || rules.Appended(name) is not null) continue;
            // X-Forwarded-* are the forwarded-headers rule's, which YARP runs after the route's header transforms.
            if (ForwardedHeadersRule.Owns(name, trustedPeer)) continue;
            Header(writer, name, value);
        }
        foreach (var (name, value) in rules.Append)
        {
            if (ForwardedHeadersRule.Owns(name, trustedPeer)) continue;
            // Appended to an incoming value above; here only for headers the client did not send.
            if (incoming.ContainsKey(name) && !rules.Replaces(name)) continue;
            if (Removed(rules, name)) continue;
            Header(writer, name, rules.SetValue(name) is { } set ? set + ", " + value : value);
        }
    }

    private static bool Removed(ForwarderChoice.HeaderRules rules, string name) => rules.Remove.Contains(name, StringComparer.OrdinalIgnoreCase);

    private static void WriteForwarded(PipeWriter writer, HttpContext context, bool trustedPeer)
    {
        var request = context.Request;
        var peer = ForwardedHeadersRule.Peer(context);
        if (trustedPeer)
        {
            var incoming = request.Headers[ForwardedHeadersRule.For];
            if (incoming.Count > 0 || peer is not null)
            {
                Bytes(writer, "X-Forwarded-For: "u8);
                if (incoming.Count > 0)
                {
                    Values(writer, incoming, ", "u8);
                    if (peer is not null) Bytes(writer, ", "u8);
                }
                if (peer is not null) Address(writer, peer);
                Bytes(writer, "\r\n"u8);
            }
            if (!request.Headers.ContainsKey(ForwardedHeadersRule.Proto)) Header(writer, ForwardedHeadersRule.Proto, request.Scheme);
            if (!request.Headers.ContainsKey(ForwardedHeadersRule.Host) && request.Host.HasValue) Header(writer, ForwardedHeadersRule.Host, request.Host.Value!);
            return;
        }
        if (peer is not null)
        {
            Bytes(writer, "X-Forwarded-For: "u8);
            Address(writer, peer);
            Bytes(writer, "\r\n"u8);
        }
        Header(writer, ForwardedHeadersRule.Proto, request.Scheme);
        if (request.Host.HasValue) Header(writer, ForwardedHeadersRule.Host, request.Host.Value!);
    }

    /// <summary>YARP's path encoding: characters outside the valid set are percent-encoded as UTF-8.</summary>
    private static void WritePath(PipeWriter writer, ReadOnlySpan<char> path)
    {
        var first = path.IndexOfAnyExcept(ValidPathChars);
        if (first < 0)
        {
            Ascii(writer, path);
            return;
        }
        Ascii(writer, path[..first]);
        Span<byte> utf8 = stackalloc byte[4];
        var i = first;
        while (i < path.Length)
        {
            var next = path[i..].IndexOfAnyExcept(ValidPathChars);
            if (next != 0)
            {
                var run = next < 0 ? path.Length - i : next;
                Ascii(writer, path.Slice(i, run));
                i += run;
                continue;
            }
            if (Rune.DecodeFromUtf16(path[i..], out var rune, out var consumed) != OperationStatus.Done) rune = Rune.ReplacementChar;
            var length = rune.EncodeToUtf8(utf8);
            var span = writer.GetSpan(length * 3);
            for (var b = 0; b < length; b++)
            {
                span[b * 3] = (byte)'%';
                span[b * 3 + 1] = (byte)"0123456789ABCDEF"[utf8[b] >> 4];
                span[b * 3 + 2] = (byte)"0123456789ABCDEF"[utf8[b] & 0xF];
            }
            writer.Advance(length * 3);
            i += Math.Max(consumed, 1);
        }
    }

    private static void Header(PipeWriter writer, string name, string value)
    {
        Ascii(writer, name);
        Bytes(writer, ": "u8);
        Latin1(writer, value);
        Bytes(writer, "\r\n"u8);
    }

    private static void Values(PipeWriter writer, StringValues values, ReadOnlySpan<byte> separator)
    {
        for (var i = 0; i < values.Count; i++)
        {
            if (i > 0) Bytes(writer, separator);
            Latin1(writer, values[i] ?? "");
        }
    }

    private static void Address(PipeWriter writer, IPAddress address)
    {
        var span = writer.GetSpan(64);
        if (!address.TryFormat(span, out var written)) written = 0;
        writer.Advance(written);
    }

    public static void Number(IBufferWriter<byte> writer, long value)
    {
        var span = writer.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var written);
        writer.Advance(written);
    }

    public static void Bytes(PipeWriter writer, ReadOnlySpan<byte> bytes) => writer.Write(bytes);

    private static void Ascii(PipeWriter writer, ReadOnlySpan<char> text) => Latin1(writer, text);

    /// <summary>Header values as Latin-1 (what Kestrel decoded them from); a character beyond it becomes '?'.</summary>
    internal static void Latin1(IBufferWriter<byte> writer, ReadOnlySpan<char> text)
    {
        while (text.Length > 0)
        {
            var span = writer.GetSpan(Math.Min(text.Length, 4096));
            var n = Math.Min(span.Length, text.Length);
            Encoding.Latin1.GetBytes(text[..n], span);
            writer.Advance(n);
            text = text[n..];
        }
    }
}
