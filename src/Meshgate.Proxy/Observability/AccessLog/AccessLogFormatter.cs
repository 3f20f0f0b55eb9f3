using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Meshgate.Configuration.Compilation;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// Turns an entry into one JSON line (with its newline), into a buffer reused from line to line.
/// Used only by the writer, on its own thread.
/// </summary>
/// <remarks>
/// The line is written byte by byte with <see cref="Utf8Formatter"/>: names are encoded once, numbers and ids are formatted
/// straight into the buffer, and a string that is printable ASCII without a quote or a backslash (a route, a method, a
/// path without escapes: almost every value) is copied as it is. Any other string goes through System.Text.Json's writer
/// with relaxed escaping, so the line is byte for byte what <see cref="Utf8JsonWriter"/> wrote for the whole entry, as it
/// did before; that writer's bookkeeping per property was about half of the formatting's cost.
/// </remarks>
internal sealed class AccessLogFormatter
{
    // "name": for every field, as UTF-8; the names are ASCII identifiers, so nothing in them is escaped.
    private static readonly byte[][] Names = AccessLogFields.Names.Select(n => System.Text.Encoding.UTF8.GetBytes($"\"{n}\":")).ToArray();

    private static readonly SearchValues<char> PlainCharacters =
        SearchValues.Create(Enumerable.Range(0x20, 0x7F - 0x20).Select(c => (char)c).Where(c => c is not ('"' or '\\')).ToArray());

    private byte[] _buffer = new byte[1024];
    private int _length;

    // Escapes the strings that need it, as one JSON string value each. Relaxed escaping keeps paths readable; quotes,
    // backslashes and control characters (a line break in a path) are still escaped.
    private readonly ArrayBufferWriter<byte> _escaped = new(256);
    private readonly Utf8JsonWriter _escaper;

    public AccessLogFormatter() =>
        _escaper = new Utf8JsonWriter(_escaped, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true });

    /// <summary>The line for <paramref name="e"/>; valid until the next call.</summary>
    public ReadOnlySpan<byte> Format(in AccessLogEntry e)
    {
        _length = 0;
        var p = e.Policy;
        Byte((byte)'{');
        if (p.Logs(AccessLogField.Time)) Time(e.Time.UtcDateTime);
        if (p.Logs(AccessLogField.Route)) String(AccessLogField.Route, e.Route);
        if (p.Logs(AccessLogField.Cluster)) String(AccessLogField.Cluster, e.Cluster);
        if (p.Logs(AccessLogField.Endpoint)) String(AccessLogField.Endpoint, e.Endpoint);
        if (p.Logs(AccessLogField.Method)) String(AccessLogField.Method, e.Method);
        if (p.Logs(AccessLogField.Path)) String(AccessLogField.Path, e.Query is { Length: > 0 } query ? e.Path + Redact(query, p.RedactedQueryParameters) : e.Path);
        if (p.Logs(AccessLogField.Status)) Number(AccessLogField.Status, e.Status);
        if (p.Logs(AccessLogField.DurationMs)) Milliseconds(AccessLogField.DurationMs, e.DurationTicks);
        if (p.Logs(AccessLogField.UpstreamMs)) Milliseconds(AccessLogField.UpstreamMs, e.UpstreamTicks);
        if (p.Logs(AccessLogField.BytesIn)) Number(AccessLogField.BytesIn, e.BytesIn);
        if (p.Logs(AccessLogField.BytesOut)) Number(AccessLogField.BytesOut, e.BytesOut);
        if (p.Logs(AccessLogField.ClientIp)) ClientIp(e);
        if (p.Logs(AccessLogField.Consumer)) String(AccessLogField.Consumer, e.Consumer);
        if (p.Logs(AccessLogField.TraceId)) TraceId(e);
        if (p.Logs(AccessLogField.Cache)) String(AccessLogField.Cache, e.Cache);
        if (p.Logs(AccessLogField.RateLimit)) String(AccessLogField.RateLimit, e.RateLimit);
        if (p.Logs(AccessLogField.Fault)) String(AccessLogField.Fault, e.Fault);
        if (p.Logs(AccessLogField.Attempts)) Number(AccessLogField.Attempts, e.Attempts);
        Byte((byte)'}');
        Byte((byte)'\n');
        return _buffer.AsSpan(0, _length);
    }

    /// <summary>A comma unless this is the first property, then the property's name.</summary>
    private void Name(AccessLogField field)
    {
        if (_length > 1) Byte((byte)',');
        var name = Names[(int)field];
        name.CopyTo(Room(name.Length));
        _length += name.Length;
    }

    private void String(AccessLogField field, string? value)
    {
        Name(field);
        if (value is null) Null();
        else StringValue(value);
    }

    private void StringValue(ReadOnlySpan<char> value)
    {
        if (IsPlain(value))
        {
            var room = Room(value.Length + 2);
            room[0] = (byte)'"';
            Ascii.FromUtf16(value, room[1..], out _);
            room[value.Length + 1] = (byte)'"';
            _length += value.Length + 2;
            return;
        }
        _escaped.ResetWrittenCount();
        _escaper.Reset(_escaped);
        _escaper.WriteStringValue(value);
        _escaper.Flush();
        Bytes(_escaped.WrittenSpan);
    }

    /// <summary>Printable ASCII without a quote or a backslash: what the relaxed encoder leaves as it is, character for character.</summary>
    internal static bool IsPlain(ReadOnlySpan<char> value) => value.IndexOfAnyExcept(PlainCharacters) < 0;

    private void Number(AccessLogField field, long value)
    {
        Name(field);
        if (!Utf8Formatter.TryFormat(value, Room(20), out var written)) throw new UnreachableException();
        _length += written;
    }

    private void Milliseconds(AccessLogField field, long ticks)
    {
        Name(field);
        var milliseconds = Math.Round(ticks * 1000.0 / Stopwatch.Frequency, 3);
        // The shortest text that reads back as the same double, as System.Text.Json writes it.
        if (!Utf8Formatter.TryFormat(milliseconds, Room(32), out var written)) throw new UnreachableException();
        _length += written;
    }

    /// <summary>ISO 8601 in UTC with the fraction's trailing zeros cut (none at all for a whole second), as System.Text.Json writes a DateTime.</summary>
    private void Time(DateTime utc)
    {
        Name(AccessLogField.Time);
        Span<byte> text = stackalloc byte[33];
        if (!Utf8Formatter.TryFormat(utc, text, out var written, new StandardFormat('O'))) throw new UnreachableException();
        // "yyyy-MM-ddTHH:mm:ss.fffffffZ": the fraction's seven digits start after the dot at 19.
        const int Dot = 19;
        var end = Dot + 7;
        while (end > Dot && text[end] == (byte)'0') end--;
        if (end == Dot) end--;
        Byte((byte)'"');
        Bytes(text[..(end + 1)]);
        Bytes(text[(Dot + 8)..written]);
        Byte((byte)'"');
    }

    private void ClientIp(in AccessLogEntry e)
    {
        Name(AccessLogField.ClientIp);
        if (e.ClientIp is not { } ip)
        {
            Null();
            return;
        }
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        Span<char> text = stackalloc char[64];
        if (ip.TryFormat(text, out var written)) StringValue(text[..written]);
        else StringValue(ip.ToString());
    }

    private void TraceId(in AccessLogEntry e)
    {
        if (e.TraceId.IsEmpty)
        {
            String(AccessLogField.TraceId, e.RequestId);
            return;
        }
        Name(AccessLogField.TraceId);
        var room = Room(Tracing.TraceId.HexLength + 2);
        room[0] = (byte)'"';
        e.TraceId.Format(room.Slice(1, Tracing.TraceId.HexLength));
        room[Tracing.TraceId.HexLength + 1] = (byte)'"';
        _length += Tracing.TraceId.HexLength + 2;
    }

    private void Null() => Bytes("null"u8);

    private void Byte(byte value)
    {
        Room(1)[0] = value;
        _length++;
    }

    private void Bytes(ReadOnlySpan<byte> value)
    {
        value.CopyTo(Room(value.Length));
        _length += value.Length;
    }

    /// <summary>At least <paramref name="size"/> bytes after what is written; the caller adds what it wrote to the length.</summary>
    private Span<byte> Room(int size)
    {
        if (_length + size > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + size));
        return _buffer.AsSpan(_length);
    }

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
