using Meshgate.Proxy.Caching;
using Meshgate.Proxy.Caching.Rfc9111;
using Meshgate.Proxy.Caching.Stores.Memory;

namespace Meshgate.Proxy.Tests.Caching;

public sealed class MemoryCacheStoreTests
{
    private static CachedResponse Entry(int bodyBytes, params (string, string)[] selectors) => new()
    {
        StatusCode = 200,
        Headers = [],
        Body = new byte[bodyBytes],
        ResponseTime = DateTimeOffset.UnixEpoch,
        InitialAge = TimeSpan.Zero,
        Lifetime = TimeSpan.FromMinutes(1),
        Directives = default(CacheDirectives),
        Selectors = selectors,
        SurrogateKeys = [],
    };

    [Fact]
    public void Set_PastTheBound_EvictsLeastRecentlyUsed()
    {
        var store = new MemoryCacheStore("p", 3_000);
        store.Set("a", Entry(800));
        store.Set("b", Entry(800));
        store.Get("a"); // a is now more recent than b
        store.Set("c", Entry(800));

        Assert.NotEmpty(store.Get("a"));
        Assert.Empty(store.Get("b"));
        Assert.NotEmpty(store.Get("c"));
        Assert.InRange(store.Bytes, 1, 3_000);
    }

    [Fact]
    public void Set_LargerThanTheBound_NotStored()
    {
        var store = new MemoryCacheStore("p", 1_000);
        store.Set("a", Entry(2_000));
        Assert.Empty(store.Get("a"));
        Assert.Equal(0, store.Bytes);
    }

    [Fact]
    public void Set_Variants_ReplacesOnlyTheSameSelectors()
    {
        var store = new MemoryCacheStore("p", 100_000);
        store.Set("k", Entry(1, ("accept-language", "en")));
        store.Set("k", Entry(2, ("accept-language", "de")));
        store.Set("k", Entry(3, ("accept-language", "en")));

        var variants = store.Get("k");
        Assert.Equal(2, variants.Count);
        Assert.Equal([3, 2], variants.Select(v => v.Body.Length));
        Assert.True(store.Remove("k"));
        Assert.Equal(0, store.Bytes);
    }
}
