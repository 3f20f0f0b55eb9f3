using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Meshgate.Proxy.Caching;

/// <summary>What a Range request (RFC 9110 section 14) asks of the cache.</summary>
internal enum RangeKind
{
    /// <summary>No Range, or one this cache ignores (another unit, bad syntax): the whole response.</summary>
    None,

    /// <summary>One byte range: answered from a stored complete 200 as 206 (or 416).</summary>
    Single,

    /// <summary>Several ranges: forwarded, since the answer would be multipart/byteranges.</summary>
    Multiple,
}

/// <summary>The part of a stored 200 a request gets: the whole, one range (206) or nothing (416, unsatisfiable).</summary>
internal readonly record struct RangeAnswer(bool Partial, bool Unsatisfiable, long From, long To)
{
    public static readonly RangeAnswer Whole = default;
    public long Length => To - From + 1;
}

internal static class ByteRanges
{
    public static RangeKind Classify(StringValues range)
    {
        if (range.Count == 0 || !RangeHeaderValue.TryParse(range.ToString(), out var parsed) || !IsBytes(parsed)) return RangeKind.None;
        return parsed.Ranges.Count == 1 ? RangeKind.Single : RangeKind.Multiple;
    }

    /// <summary>
    /// The range of <paramref name="entry"/>'s body that <paramref name="request"/> asks for. Whole when it asks for
    /// none, for several, or its If-Range does not match the entry (RFC 9110 section 13.1.5: strong comparison of
    /// ETags, or the exact Last-Modified date).
    /// </summary>
    public static RangeAnswer Select(HttpRequest request, CachedResponse entry)
    {
        var header = request.Headers.Range;
        if (header.Count == 0 || entry.StatusCode != StatusCodes.Status200OK || !HttpMethods.IsGet(request.Method)) return RangeAnswer.Whole;
        if (!RangeHeaderValue.TryParse(header.ToString(), out var parsed) || !IsBytes(parsed) || parsed.Ranges.Count != 1) return RangeAnswer.Whole;
        if (request.Headers.IfRange is { Count: > 0 } ifRange && !IfRangeMatches(ifRange.ToString(), entry)) return RangeAnswer.Whole;

        var range = parsed.Ranges.First();
        long length = entry.Body.Length;
        if (range.From is { } from)
        {
            if (from >= length) return new(false, true, 0, 0);
            var to = range.To is { } end && end < length ? end : length - 1;
            return new(true, false, from, to);
        }
        // A suffix: the last N bytes.
        if (range.To is not { } suffix || suffix == 0 || length == 0) return new(false, true, 0, 0);
        return new(true, false, Math.Max(0, length - suffix), length - 1);
    }

    private static bool IsBytes(RangeHeaderValue range) => range.Unit.Equals("bytes", StringComparison.OrdinalIgnoreCase) && range.Ranges.Count > 0;

    private static bool IfRangeMatches(string ifRange, CachedResponse entry)
    {
        ifRange = ifRange.Trim();
        if (ifRange.StartsWith('"') || ifRange.StartsWith("W/", StringComparison.Ordinal))
        {
            // Strong comparison: a weak tag on either side never matches.
            return entry.ETag is { } etag && !etag.StartsWith("W/", StringComparison.Ordinal) && !ifRange.StartsWith("W/", StringComparison.Ordinal) && etag == ifRange;
        }
        return entry.LastModified is not null && Rfc9111.HttpCacheRules.ParseDate(ifRange) is { } date
            && Rfc9111.HttpCacheRules.ParseDate(entry.LastModified) is { } modified && date == modified;
    }
}
