using Meshgate.Proxy.Caching;
using Meshgate.Proxy.Caching.Rfc9111;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Tests.Caching;

public sealed class ByteRangesTests
{
    private static readonly CachedResponse Stored = new()
    {
        StatusCode = 200,
        Headers = [],
        Body = new byte[10],
        ResponseTime = DateTimeOffset.UnixEpoch,
        InitialAge = TimeSpan.Zero,
        Lifetime = TimeSpan.FromMinutes(1),
        Directives = default(CacheDirectives),
        Selectors = [],
        SurrogateKeys = [],
        ETag = "\"s1\"",
        LastModified = "Mon, 05 Jan 2026 10:00:00 GMT",
    };

    [Theory]
    [InlineData(null, "None")]
    [InlineData("bytes=0-1", "Single")]
    [InlineData("bytes=-5", "Single")]
    [InlineData("bytes=0-1, 4-5", "Multiple")]
    [InlineData("items=0-1", "None")]
    [InlineData("bytes=x", "None")]
    public void Classify(string? range, string kind) => Assert.Equal(kind, ByteRanges.Classify(range).ToString());

    [Theory]
    [InlineData("bytes=0-0", null, true, false, 0, 0)]
    [InlineData("bytes=3-", null, true, false, 3, 9)]
    [InlineData("bytes=8-20", null, true, false, 8, 9)]
    [InlineData("bytes=-4", null, true, false, 6, 9)]
    [InlineData("bytes=-20", null, true, false, 0, 9)]
    [InlineData("bytes=10-", null, false, true, 0, 0)]
    [InlineData("bytes=-0", null, false, true, 0, 0)]
    [InlineData("bytes=0-1", "\"s1\"", true, false, 0, 1)]
    [InlineData("bytes=0-1", "W/\"s1\"", false, false, 0, 0)] // weak: never matches If-Range
    [InlineData("bytes=0-1", "Mon, 05 Jan 2026 10:00:00 GMT", true, false, 0, 1)]
    [InlineData("bytes=0-1", "Mon, 05 Jan 2026 10:00:01 GMT", false, false, 0, 0)]
    public void Select(string range, string? ifRange, bool partial, bool unsatisfiable, long from, long to)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Headers.Range = range;
        if (ifRange is not null) context.Request.Headers.IfRange = ifRange;

        Assert.Equal(new RangeAnswer(partial, unsatisfiable, from, to), ByteRanges.Select(context.Request, Stored));
    }

    [Fact]
    public void Select_HeadOrNot200_Whole()
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "HEAD";
        context.Request.Headers.Range = "bytes=0-1";
        Assert.Equal(RangeAnswer.Whole, ByteRanges.Select(context.Request, Stored));
        context.Request.Method = "GET";
        Assert.Equal(RangeAnswer.Whole, ByteRanges.Select(context.Request, Stored with { StatusCode = 404 }));
    }
}
