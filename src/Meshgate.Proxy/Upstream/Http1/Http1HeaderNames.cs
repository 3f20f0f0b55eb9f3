using System.Collections.Frozen;
using System.Text;
using Microsoft.Net.Http.Headers;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// Header names on the direct path: the hop-by-hop set both directions leave out (the same list as YARP's
/// forwarder, so both paths forward the same headers), and the response header names an upstream commonly
/// sends, mapped from the bytes on the wire to the framework's own string instances so that reading them
/// allocates no name. A known name also has a slot in its connection's value cache (<see cref="Http1Connection"/>).
/// </summary>
internal static class Http1HeaderNames
{
    /// <summary>Not forwarded in either direction (YARP's RequestUtilities list): they describe one connection.</summary>
    public static readonly FrozenSet<string> HopByHop = new[]
    {
        HeaderNames.Connection, HeaderNames.TransferEncoding, HeaderNames.KeepAlive, HeaderNames.Upgrade, HeaderNames.ProxyConnection,
        HeaderNames.ProxyAuthenticate, "Proxy-Authentication-Info", HeaderNames.ProxyAuthorization, "Proxy-Features", "Proxy-Instruction",
        "Security-Scheme", "ALPN", "Close", "HTTP2-Settings", HeaderNames.UpgradeInsecureRequests, HeaderNames.TE, HeaderNames.AltSvc,
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Response header names with a value-cache slot; the index is the slot.</summary>
    private static readonly string[] Known =
    [
        HeaderNames.ContentType, HeaderNames.ContentLength, HeaderNames.Date, HeaderNames.Server, HeaderNames.CacheControl,
        HeaderNames.ETag, HeaderNames.LastModified, HeaderNames.Expires, HeaderNames.Vary, HeaderNames.Location,
        HeaderNames.SetCookie, HeaderNames.ContentEncoding, HeaderNames.ContentLanguage, HeaderNames.AcceptRanges, HeaderNames.Age,
        HeaderNames.TransferEncoding, HeaderNames.Connection, HeaderNames.KeepAlive, HeaderNames.Pragma, HeaderNames.Allow,
        HeaderNames.ContentDisposition, HeaderNames.ContentRange, HeaderNames.WWWAuthenticate, HeaderNames.RetryAfter,
        HeaderNames.AccessControlAllowOrigin, HeaderNames.StrictTransportSecurity, HeaderNames.XContentTypeOptions,
        HeaderNames.XFrameOptions, HeaderNames.Upgrade, HeaderNames.ProxyConnection, HeaderNames.Trailer, HeaderNames.AltSvc,
        HeaderNames.ProxyAuthenticate, HeaderNames.XPoweredBy,
    ];

    public static int KnownCount => Known.Length;

    // Slots the reader treats apart (indexes into Known).
    public const int ContentLength = 1;
    public const int TransferEncoding = 15;
    public const int Connection = 16;
    public const int StrictTransportSecurity = 25;

    private static readonly byte[][] KnownBytes = Known.Select(Encoding.ASCII.GetBytes).ToArray();

    // Which known names are hop-by-hop, read from the one list above.
    private static readonly bool[] KnownHopByHop = Known.Select(HopByHop.Contains).ToArray();

    /// <summary>The slot of a known name, or -1.</summary>
    public static int Find(ReadOnlySpan<byte> name)
    {
        for (var i = 0; i < KnownBytes.Length; i++)
        {
            var known = KnownBytes[i];
            if (known.Length == name.Length && System.Text.Ascii.EqualsIgnoreCase(known, name)) return i;
        }
        return -1;
    }

    public static string Name(int slot) => Known[slot];

    /// <summary>A known name's bytes, spelt as <see cref="Name"/>.</summary>
    public static ReadOnlySpan<byte> Bytes(int slot) => KnownBytes[slot];

    /// <summary>Whether a response header is hop-by-hop; by its slot for known names, by the set for others.</summary>
    public static bool IsHopByHop(int slot, ReadOnlySpan<byte> name)
    {
        if (slot >= 0) return KnownHopByHop[slot];
        // No hop-by-hop name is this long; names are tokens, so ASCII.
        if (name.Length > 32) return false;
        Span<char> chars = stackalloc char[name.Length];
        System.Text.Ascii.ToUtf16(name, chars, out _);
        return HopByHopByChars.Contains(chars);
    }

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> HopByHopByChars = HopByHop.GetAlternateLookup<ReadOnlySpan<char>>();
}
