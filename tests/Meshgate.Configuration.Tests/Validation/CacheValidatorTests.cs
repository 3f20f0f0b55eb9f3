using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Tests.Validation;

public sealed class CacheValidatorTests
{
    // Lines 1-4 hold a listener, a cluster and "caches:"; the policy under test starts on line 5.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: orders, endpoints: [http://10.0.0.1] }\ncaches:\n";

    private const string Route = "routes:\n  - id: a\n    match: { path: /a }\n    cluster: orders\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // Route references (the route's cache key is on line 11).
        { Head + "  short:\n    store: memory\n" + Route + "    cache: shrt\n", 11, "routes[0].cache", "unknown cache policy 'shrt' (did you mean 'short'?)" },
        { Head + "  short:\n    store: memory\n" + Route + "    cache: long-lived\n", 11, "routes[0].cache", "unknown cache policy 'long-lived' (defined: short)" },
        { "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: orders, endpoints: [http://10.0.0.1] }\n" + Route + "    cache: short\n", 8, "routes[0].cache", "unknown cache policy 'short' (no caches are defined)" },

        // Names and values.
        { Head + "  disable:\n    store: memory\n", 5, "caches.disable", "the name 'disable' is reserved" },
        { Head + "  short:\n    store: disk\n", 6, "caches.short.store", "disk" },
        { Head + "  short:\n    store: redis\n", 6, "caches.short.store", "store: redis needs a Redis store: add stores: { redis: { connection: host:port } }" },
        { Head + "  short:\n    store: memory\n    keepStale: -1s\n", 7, "caches.short.keepStale", "must not be negative" },
        { Head + "  short:\n    maxEntryBytes: 0\n", 6, "caches.short.maxEntryBytes", "must be more than 0" },
        { Head + "  short:\n    maxEntryBytes: lots\n", 6, "caches.short.maxEntryBytes", "lots" },
        { Head + "  short:\n    maxBytes: 0\n", 6, "caches.short.maxBytes", "must be more than 0" },
        { Head + "  short:\n    maxBytes: 1MiB\n    maxEntryBytes: 2MiB\n", 7, "caches.short.maxEntryBytes", "is larger than maxBytes" },
        { Head + "  short:\n    defaultTtl: 0s\n", 6, "caches.short.defaultTtl", "must be positive" },
        { Head + "  short:\n    defaultTtl: 30\n", 6, "caches.short.defaultTtl", "a duration with a unit" },
        { Head + "  short:\n    coalesceTimeout: -1s\n", 6, "caches.short.coalesceTimeout", "must be positive" },
        { Head + "  short:\n    ttl: 30s\n", 6, "caches.short.ttl", "unknown key" },

        // Key.
        { Head + "  short:\n    key:\n      query: shuffle\n", 7, "caches.short.key.query", "shuffle" },
        { Head + "  short:\n    key:\n      query: drop\n      dropQuery: [utm_source]\n", 8, "caches.short.key.dropQuery", "has no effect with query: drop" },
        { Head + "  short:\n    key:\n      dropQuery: ['']\n", 7, "caches.short.key.dropQuery[0]", "must be a query parameter name" },
        { Head + "  short:\n    key:\n      headers: ['accept language']\n", 7, "caches.short.key.headers[0]", "'accept language' is not a valid header name" },
        { Head + "  short:\n    key:\n      headers: [Authorization]\n", 7, "caches.short.key.headers[0]", "'Authorization' cannot be part of the key" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidCache_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Validate_RedisStore_CompilesWithTheServerAndAllowsEntriesPastMaxBytes()
    {
        var snapshot = ConfigText.Snapshot(Head + """
              shared: { store: redis, keepStale: 5m, maxEntryBytes: 128MiB }
            routes:
              - { id: a, match: { path: /a }, cluster: orders, cache: shared }
            stores:
              redis: { connection: 127.0.0.1:6379, timeout: 80ms }
            """);

        var shared = snapshot.RoutePolicies["a"].Cache!;
        Assert.Equal(CacheStoreKind.Redis, shared.Store);
        Assert.Equal(TimeSpan.FromMinutes(5), shared.KeepStale);
        Assert.Equal("127.0.0.1:6379", shared.Redis!.Connection);
        Assert.Equal(TimeSpan.FromMilliseconds(80), shared.Redis.Timeout);
    }

    [Fact]
    public void Validate_FullPolicyAndDisable_CompilesOntoRoutes()
    {
        var snapshot = ConfigText.Snapshot(Head + """
              short:
                store: memory
                maxEntryBytes: 256KiB
                maxBytes: 16MiB
                defaultTtl: 30s
                storeSetCookie: true
                coalesceTimeout: 2s
                key: { query: sort, dropQuery: [utm_source], headers: [Accept-Language] }
              plain: {}
            routes:
              - { id: a, match: { path: /a }, cluster: orders, cache: short }
              - { id: b, match: { path: /b }, cluster: orders, cache: disable }
              - { id: c, match: { path: /c }, cluster: orders, cache: PLAIN }
              - { id: d, match: { path: /d }, cluster: orders }
            """);

        var short_ = snapshot.RoutePolicies["a"].Cache!;
        Assert.Equal(256 * 1024, short_.MaxEntryBytes);
        Assert.Equal(16L << 20, short_.MaxBytes);
        Assert.Equal(TimeSpan.FromSeconds(30), short_.DefaultTtl);
        Assert.True(short_.StoreSetCookie);
        Assert.Equal(TimeSpan.FromSeconds(2), short_.CoalesceTimeout);
        Assert.Equal(CacheQueryMode.Sort, short_.Query);
        Assert.Contains("utm_source", short_.DropQuery);
        Assert.Equal(["Accept-Language"], short_.KeyHeaders);
        Assert.Null(snapshot.RoutePolicies["b"].Cache);
        var plain = snapshot.RoutePolicies["c"].Cache!;
        Assert.Equal(1L << 20, plain.MaxEntryBytes);
        Assert.Null(plain.DefaultTtl);
        Assert.False(plain.StoreSetCookie);
        Assert.Equal(CacheQueryMode.Keep, plain.Query);
        Assert.Equal(TimeSpan.FromMinutes(1), plain.KeepStale);
        Assert.Null(plain.Redis);
        Assert.Null(snapshot.RoutePolicies["d"].Cache);
    }
}
