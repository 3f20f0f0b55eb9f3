using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Caching;

namespace Meshgate.Proxy.Tests.Caching;

public sealed class CacheKeyTests
{
    private static CachePolicy Policy(CacheQueryMode query, params string[] drop) =>
        new("p", CacheStoreKind.Memory, 1024, 4096, null, false, TimeSpan.FromSeconds(1), query, drop.ToHashSet(), []);

    [Theory]
    [InlineData(CacheQueryMode.Keep, "?b=2&a=1", "GET http://example.com/x?b=2&a=1")]
    [InlineData(CacheQueryMode.Sort, "?b=2&a=1", "GET http://example.com/x?a=1&b=2")]
    [InlineData(CacheQueryMode.Drop, "?b=2&a=1", "GET http://example.com/x")]
    [InlineData(CacheQueryMode.Keep, "", "GET http://example.com/x")]
    public void For_QueryModes(CacheQueryMode mode, string query, string expected) =>
        Assert.Equal(expected, CacheKey.For("GET", "http", "Example.COM", "/x", query, Policy(mode)));

    [Fact]
    public void For_DropQuery_RemovesNamedParametersKeepingOrder()
    {
        Assert.Equal("GET http://h/x?b=2&a=1", CacheKey.For("GET", "http", "h", "/x", "?b=2&utm_source=z&a=1", Policy(CacheQueryMode.Keep, "utm_source")));
        Assert.Equal("GET http://h/x", CacheKey.For("GET", "http", "h", "/x", "?utm_source=z", Policy(CacheQueryMode.Sort, "utm_source")));
        Assert.Equal("http://h/x", CacheKey.UrlOf("HEAD http://h/x").ToString());
    }
}
