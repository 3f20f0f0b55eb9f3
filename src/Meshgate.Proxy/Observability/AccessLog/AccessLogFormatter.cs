using System.Buffers;
using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;
using Meshgate.Configuration.Compilation;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// Turns an entry into one JSON line (with its newline), into a buffer reused from line to line.
/// Used only by the writer, on its own thread.
/// </summary>
internal sealed class AccessLogFormatter
{
    private static readonly JsonEncodedText[] Names = AccessLogFields.Names.Select(n => JsonEncodedText.Encode(n)).ToArray();

    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly Utf8JsonWriter _json;

    public AccessLogFormatter() =>
        // Relaxed escaping keeps paths readable; quotes, backslashes and control characters (a line break in a path) are still escaped.
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true });

    /// <summary>The line for <paramref name="e"/>; valid until the next call.</summary>
    public ReadOnlySpan<byte> Format(in AccessLogEntry e)
    {
        _buffer.ResetWrittenCount();
        _json.Reset(_buffer);
        var p = e.Policy;
        _json.WriteStartObject();
        if (p.Logs(AccessLogField.Time)) _json.WriteString(Names[(int)AccessLogField.Time], e.Time.UtcDateTime);
        if (p.Logs(AccessLogField.Route)) String(AccessLogField.Route, e.Route);
        if (p.Logs(AccessLogField.Cluster)) String(AccessLogField.Cluster, e.Cluster);
        if (p.Logs(AccessLogField.Endpoint)) String(AccessLogField.Endpoint, e.Endpoint);
        if (p.Logs(AccessLogField.Method)) String(AccessLogField.Method, e.Method);
        if (p.Logs(AccessLogField.Path)) String(AccessLogField.Path, e.Query is { Length: > 0 } query ? e.Path + Redact(query, p.RedactedQueryParameters) : e.Path);
        if (p.Logs(AccessLogField.Status)) _json.WriteNumber(Names[(int)AccessLogField.Status], e.Status);
        if (p.Logs(AccessLogField.DurationMs)) _json.WriteNumber(Names[(int)AccessLogField.DurationMs], Milliseconds(e.DurationTicks));
        if (p.Logs(AccessLogField.UpstreamMs)) _json.WriteNumber(Names[(int)AccessLogField.UpstreamMs], Milliseconds(e.UpstreamTicks));
        if (p.Logs(AccessLogField.BytesIn)) _json.WriteNumber(Names[(int)AccessLogField.BytesIn], e.BytesIn);
        if (p.Logs(AccessLogField.BytesOut)) _json.WriteNumber(Names[(int)AccessLogField.BytesOut], e.BytesOut);
        if (p.Logs(AccessLogField.ClientIp)) ClientIp(e);
        if (p.Logs(AccessLogField.Consumer)) String(AccessLogField.Consumer, e.Consumer);
        if (p.Logs(AccessLogField.TraceId)) TraceId(e);
        if (p.Logs(AccessLogField.Cache)) String(AccessLogField.Cache, e.Cache);
        if (p.Logs(AccessLogField.RateLimit)) String(AccessLogField.RateLimit, e.RateLimit);
        if (p.Logs(AccessLogField.Fault)) String(AccessLogField.Fault, e.Fault);
        if (p.Logs(AccessLogField.Attempts)) _json.WriteNumber(Names[(int)AccessLogField.Attempts], e.Attempts);
        _json.WriteEndObject();
        _json.Flush();
        _buffer.Write("\n"u8);
        return _buffer.WrittenSpan;
    }

    private void String(AccessLogField field, string? value)
    {
        if (value is null) _json.WriteNull(Names[(int)field]);
        else _json.WriteString(Names[(int)field], value);
    }

    private void ClientIp(in AccessLogEntry e)
    {
        var name = Names[(int)AccessLogField.ClientIp];
        if (e.ClientIp is not { } ip)
        {
            _json.WriteNull(name);
            return;
        }
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        Span<char> text = stackalloc char[64];
        if (ip.TryFormat(text, out var written)) _json.WriteString(name, text[..written]);
        else _json.WriteString(name, ip.ToString());
    }

    private void TraceId(in AccessLogEntry e)
    {
        var name = Names[(int)AccessLogField.TraceId];
        if (e.TraceId.IsEmpty)
        {
            String(AccessLogField.TraceId, e.RequestId);
            return;
        }
        Span<byte> hex = stackalloc byte[Tracing.TraceId.HexLength];
        e.TraceId.Format(hex);
        _json.WriteString(name, hex);
    }

    private static double Milliseconds(long ticks) => Math.Round(ticks * 1000.0 / Stopwatch.Frequency, 3);

    /// <summary>The query string with the values of credential-carrying parameters replaced.</summary>
    internal static string Redact(string query, IReadOnlySet<string> secretParameters)
    {
        if (secretParameters.Count == 0) return query;
        var changed = false;
        var parameters = query.TrimStart('?').Split('&');
        for (var i = 0; i < parameters.Length; i++)
        {
            var equals = parameters[i].IndexOf('=');
            var name = equals < 0 ? parameters[i] : parameters[i][..equals];
            if (!secretParameters.Contains(name) && !secretParameters.Contains(Uri.UnescapeDataString(name.Replace('+', ' ')))) continue;
            changed = true;
            parameters[i] = name + "=[redacted]";
        }
        return changed ? "?" + string.Join('&', parameters) : query;
    }
}
