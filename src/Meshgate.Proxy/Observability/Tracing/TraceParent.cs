using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// The W3C <c>traceparent</c> header (Trace Context level 1): <c>{version}-{trace id}-{parent id}-{flags}</c>, read from a
/// caller and written to an upstream as the gateway's own text, without an Activity.
/// </summary>
internal static class TraceParent
{
    public const string Header = "traceparent";

    /// <summary>The caller's vendor state: passed on only with the caller's traceparent it belongs to (a restarted trace drops it).</summary>
    public const string StateHeader = "tracestate";

    /// <summary>Length of a version 00 value: 2 + 1 + 32 + 1 + 16 + 1 + 2.</summary>
    public const int Length = 55;

    /// <summary>
    /// The caller's trace context, when its header is well formed: a single value, a known or future version (not ff; a
    /// future version may carry more after a '-'), lower-case hex, neither id all zeros. Anything else starts a new trace.
    /// </summary>
    public static bool TryParse(StringValues header, out TraceId traceId, out ulong parentId, out bool sampled)
    {
        traceId = default;
        parentId = 0;
        sampled = false;
        if (header.Count != 1 || header[0] is not { Length: >= Length } value) return false;
        var text = value.AsSpan();
        if (!IsLowerHex(text[..2]) || text.StartsWith("ff", StringComparison.Ordinal)) return false;
        if (text.StartsWith("00", StringComparison.Ordinal) ? text.Length != Length : text.Length > Length && text[Length] != '-') return false;
        if (text[2] != '-' || text[35] != '-' || text[52] != '-') return false;
        var trace = text.Slice(3, 32);
        var parent = text.Slice(36, 16);
        var flags = text.Slice(53, 2);
        if (!IsLowerHex(trace) || !IsLowerHex(parent) || !IsLowerHex(flags)) return false;
        traceId = new TraceId(Hex(trace[..16]), Hex(trace[16..]));
        parentId = Hex(parent);
        if (traceId.IsEmpty || parentId == 0)
        {
            traceId = default;
            parentId = 0;
            return false;
        }
        sampled = (Hex(flags) & (ulong)ActivityTraceFlags.Recorded) != 0;
        return true;
    }

    /// <summary><c>00-{trace id}-{span id}-{01|00}</c>, <see cref="Length"/> bytes, into <paramref name="utf8"/>.</summary>
    public static void Format(Span<byte> utf8, TraceId traceId, ulong spanId, bool sampled)
    {
        "00-"u8.CopyTo(utf8);
        traceId.Format(utf8[3..]);
        utf8[35] = (byte)'-';
        TraceId.Hex(spanId, utf8[36..]);
        utf8[52] = (byte)'-';
        utf8[53] = (byte)'0';
        utf8[54] = sampled ? (byte)'1' : (byte)'0';
    }

    /// <summary>The same as text, for a header collection that takes strings (YARP's HttpRequestMessage).</summary>
    public static string ToString(TraceId traceId, ulong spanId, bool sampled)
    {
        Span<byte> utf8 = stackalloc byte[Length];
        Format(utf8, traceId, spanId, sampled);
        return Encoding.ASCII.GetString(utf8);
    }

    /// <summary>A span id as the number it is (big-endian bytes).</summary>
    public static ulong SpanIdOf(ActivitySpanId id)
    {
        Span<byte> bytes = stackalloc byte[8];
        id.CopyTo(bytes);
        return BinaryPrimitives.ReadUInt64BigEndian(bytes);
    }

    /// <summary>A random span id, never zero.</summary>
    public static ulong NewSpanId()
    {
        ulong id;
        do id = (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue);
        while (id == 0);
        return id;
    }

    private static ulong Hex(ReadOnlySpan<char> hex) => ulong.Parse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    private static bool IsLowerHex(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f')) return false;
        }
        return true;
    }
}
