using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// A W3C trace id (16 bytes) as two numbers, big-endian halves: unlike <see cref="ActivityTraceId"/>, which keeps its
/// hex text, it costs nothing to hold, and is written as hex only where it is needed (a header, a log line).
/// </summary>
internal readonly record struct TraceId(ulong High, ulong Low)
{
    public const int HexLength = 32;

    public bool IsEmpty => (High | Low) == 0;

    /// <summary>A random id, never all zeros.</summary>
    public static TraceId CreateRandom()
    {
        Span<byte> bytes = stackalloc byte[16];
        TraceId id;
        do
        {
            Random.Shared.NextBytes(bytes);
            id = new TraceId(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));
        }
        while (id.IsEmpty);
        return id;
    }

    public static TraceId From(ActivityTraceId id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.CopyTo(bytes);
        return new TraceId(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));
    }

    public ActivityTraceId ToActivityTraceId()
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, High);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], Low);
        return ActivityTraceId.CreateFromBytes(bytes);
    }

    /// <summary>32 lower-case hex characters into <paramref name="utf8"/>.</summary>
    public void Format(Span<byte> utf8)
    {
        Hex(High, utf8);
        Hex(Low, utf8[16..]);
    }

    // A nibble at a time: on every request (the traceparent, the access log), where number formatting's
    // format-string parsing showed in the profile.
    private static ReadOnlySpan<byte> Digits => "0123456789abcdef"u8;

    /// <summary><paramref name="value"/> as 16 lower-case hex digits.</summary>
    internal static void Hex(ulong value, Span<byte> utf8)
    {
        utf8 = utf8[..16];
        for (var i = 15; i >= 0; i--, value >>= 4) utf8[i] = Digits[(int)(value & 0xF)];
    }

    /// <summary>The 32 hex characters as text (the trace-id response header).</summary>
    public override string ToString()
    {
        Span<byte> utf8 = stackalloc byte[HexLength];
        Format(utf8);
        return Encoding.ASCII.GetString(utf8);
    }
}
