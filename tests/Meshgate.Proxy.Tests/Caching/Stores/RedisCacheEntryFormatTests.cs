using Meshgate.Proxy.Caching;
using Meshgate.Proxy.Caching.Rfc9111;
using Meshgate.Proxy.Caching.Stores.Redis;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Tests.Caching.Stores;

public sealed class RedisCacheEntryFormatTests
{
    private static CachedResponse Entry() => new()
    {
        StatusCode = 203,
        Headers = [new("Cache-Control", "max-age=60, stale-if-error=30"), new("X-Multi", new StringValues(["one", "two"])), new("Content-Type", "text/plain; charset=utf-8")],
        Body = [1, 2, 3, 0, 255],
        ResponseTime = new DateTimeOffset(2026, 1, 5, 10, 0, 0, TimeSpan.Zero).AddTicks(7),
        InitialAge = TimeSpan.FromSeconds(12.5),
        Lifetime = TimeSpan.FromSeconds(60),
        Directives = CacheDirectives.Parse("max-age=60, stale-if-error=30"),
        Selectors = [("accept-language", "de"), ("x-tenant", "")],
        SurrogateKeys = ["products", "all"],
        ETag = "W/\"v1\"",
        LastModified = "Mon, 05 Jan 2026 09:00:00 GMT",
    };

    [Fact]
    public void WriteThenRead_KeepsEverythingRfc9111Needs()
    {
        var entry = Entry();
        var read = RedisCacheEntryFormat.Read(RedisCacheEntryFormat.Write(entry))!;

        Assert.Equal((entry.StatusCode, entry.ResponseTime, entry.InitialAge, entry.Lifetime, entry.ETag, entry.LastModified),
            (read.StatusCode, read.ResponseTime, read.InitialAge, read.Lifetime, read.ETag, read.LastModified));
        Assert.Equal(entry.Body, read.Body);
        Assert.Equal(entry.Selectors, read.Selectors);
        Assert.Equal(entry.SurrogateKeys, read.SurrogateKeys);
        Assert.Equal(entry.Headers.Select(h => (h.Key, h.Value.ToString())), read.Headers.Select(h => (h.Key, h.Value.ToString())));
        Assert.Equal(2, read.Headers[1].Value.Count);
        Assert.Equal(entry.Directives, read.Directives);
    }

    [Fact]
    public void Write_IsCompact_BodyPlusLittleMore()
    {
        var entry = Entry() with { Body = new byte[10_000] };
        Assert.InRange(RedisCacheEntryFormat.Write(entry).Length, 10_000, 10_300);
    }

    [Fact]
    public void Read_OtherVersionOrDamaged_IsNull()
    {
        var bytes = RedisCacheEntryFormat.Write(Entry());
        Assert.Null(RedisCacheEntryFormat.Read([99, .. bytes[1..]]));
        Assert.Null(RedisCacheEntryFormat.Read(bytes[..20]));
    }

    [Fact]
    public void Field_DiffersBySelectorValues_EmptyWithoutSelectors()
    {
        Assert.Equal("", RedisCacheEntryFormat.Field(Entry() with { Selectors = [] }));
        Assert.NotEqual(RedisCacheEntryFormat.Field(Entry() with { Selectors = [("a", "b,c")] }), RedisCacheEntryFormat.Field(Entry() with { Selectors = [("a", "b"), ("c", "")] }));
    }
}
