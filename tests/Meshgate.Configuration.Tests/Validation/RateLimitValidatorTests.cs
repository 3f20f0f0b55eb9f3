using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Tests.Validation;

public sealed class RateLimitValidatorTests
{
    // Lines 1-4 hold a listener, a cluster and "rateLimits:"; the policy under test starts on line 5.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: orders, endpoints: [http://10.0.0.1] }\nrateLimits:\n";

    private const string Valid = "  api:\n    algorithm: fixed-window\n    limit: 10\n    window: 1s\n";

    private const string Route = "routes:\n  - id: a\n    match: { path: /a }\n    cluster: orders\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // Route references (the route's rateLimit key is on line 13).
        { Head + Valid + Route + "    rateLimit: apu\n", 13, "routes[0].rateLimit", "unknown rate-limit policy 'apu' (did you mean 'api'?)" },
        { Head + Valid + Route + "    rateLimit: partners\n", 13, "routes[0].rateLimit", "unknown rate-limit policy 'partners' (defined: api)" },
        { "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: orders, endpoints: [http://10.0.0.1] }\n" + Route + "    rateLimit: api\n", 8, "routes[0].rateLimit", "(no rateLimits are defined)" },

        // Names.
        { Head + "  default:\n    algorithm: fixed-window\n    limit: 10\n    window: 1s\n", 5, "rateLimits.default", "the name 'default' is reserved" },
        { Head + "  disable:\n    algorithm: fixed-window\n    limit: 10\n    window: 1s\n", 5, "rateLimits.disable", "the name 'disable' is reserved" },

        // Algorithm, limit, window, burst.
        { Head + "  api:\n    limit: 10\n    window: 1s\n", 6, "rateLimits.api.algorithm", "required key 'algorithm' is missing" },
        { Head + "  api:\n    algorithm: leaky-bucket\n    limit: 10\n    window: 1s\n", 6, "rateLimits.api.algorithm", "expected one of token-bucket, sliding-window, fixed-window, concurrency" },
        { Head + "  api:\n    algorithm: fixed-window\n    window: 1s\n", 6, "rateLimits.api.limit", "required key 'limit' is missing" },
        { Head + "  api:\n    algorithm: fixed-window\n    limit: 0\n    window: 1s\n", 7, "rateLimits.api.limit", "must be at least 1 (found 0)" },
        { Head + "  api:\n    algorithm: fixed-window\n    limit: 10\n", 5, "rateLimits.api.window", "required for this algorithm" },
        { Head + "  api:\n    algorithm: sliding-window\n    limit: 10\n    window: 0s\n", 8, "rateLimits.api.window", "must be at least 1ms" },
        { Head + "  api:\n    algorithm: fixed-window\n    limit: 10\n    window: 10\n", 8, "rateLimits.api.window", "a duration with a unit" },
        { Head + "  api:\n    algorithm: concurrency\n    limit: 10\n    window: 1s\n", 8, "rateLimits.api.window", "concurrency counts requests in flight and has no window" },
        { Head + Valid + "    burst: 5\n", 9, "rateLimits.api.burst", "only token-bucket has a burst" },
        { Head + "  api:\n    algorithm: token-bucket\n    limit: 10\n    window: 1s\n    burst: -1\n", 9, "rateLimits.api.burst", "must not be negative" },

        // Keys.
        { Head + Valid + "    key: client_ip\n", 9, "rateLimits.api.key[0]", "'client_ip' is not a key: use client-ip, consumer, route, claim:NAME or header:NAME" },
        { Head + Valid + "    key: [route, 'header:x bad']\n", 9, "rateLimits.api.key[1]", "'header:x bad' is not a key" },
        { Head + Valid + "    key: ['claim:']\n", 9, "rateLimits.api.key[0]", "'claim:' is not a key" },
        { Head + Valid + "    key: [route, route]\n", 9, "rateLimits.api.key[1]", "'route' is listed twice" },
        { Head + Valid + "    key: []\n", 9, "rateLimits.api.key", "must name at least one key part" },

        // Scope and store failure.
        { Head + Valid + "    scope: shared\n", 9, "rateLimits.api.scope", "scope: shared needs a Redis store: add stores: { redis: { connection: host:port } }" },
        { Head + "  api:\n    algorithm: concurrency\n    limit: 10\n    scope: shared\nstores: { redis: { connection: 127.0.0.1:6379 } }\n", 8, "rateLimits.api.scope", "concurrency is counted on each node; use scope: local" },
        { Head + Valid + "    scope: everywhere\n", 9, "rateLimits.api.scope", "expected one of local, shared" },
        { Head + Valid + "    onStoreFailure: deny\n", 9, "rateLimits.api.onStoreFailure", "only applies to scope: shared" },
        { Head + Valid + "    nodes: 3\n", 9, "rateLimits.api.nodes", "only applies with onStoreFailure: local" },
        { Head + Valid + "    headers: maybe\n", 9, "rateLimits.api.headers", "expected true or false" },
        { Head + Valid + "    quota: 5\n", 9, "rateLimits.api.quota", "unknown key 'quota'" },

        // Quotas.
        { Head + "  api:\n    algorithm: quota\n    limit: 1000\n", 5, "rateLimits.api.period", "required for a quota: period: day or period: month (calendar periods in UTC)" },
        { Head + "  api:\n    algorithm: quota\n    limit: 1000\n    period: week\n", 8, "rateLimits.api.period", "expected one of day, month" },
        { Head + "  api:\n    algorithm: quota\n    limit: 0\n    period: day\n", 7, "rateLimits.api.limit", "must be at least 1 (found 0)" },
        { Head + "  api:\n    algorithm: quota\n    limit: -5\n    period: month\n", 7, "rateLimits.api.limit", "must be at least 1 (found -5)" },
        { Head + "  api:\n    algorithm: quota\n    limit: 1000\n    period: day\n    window: 24h\n", 9, "rateLimits.api.window", "a quota counts per calendar period; use period: day or period: month instead of window" },
        { Head + "  api:\n    algorithm: quota\n    limit: 1000\n    period: day\n    burst: 10\n", 9, "rateLimits.api.burst", "only token-bucket has a burst" },
        { Head + Valid + "    period: day\n", 9, "rateLimits.api.period", "only a quota has a period; remove it or use algorithm: quota" },

        // The Redis store.
        { Head + Valid + "stores:\n  redis:\n    timeout: 50ms\n", 11, "stores.redis.connection", "required key 'connection' is missing" },
        { Head + Valid + "stores:\n  redis:\n    connection: redis.internal\n", 11, "stores.redis.connection", "'redis.internal' is not host:port" },
        { Head + Valid + "stores:\n  redis:\n    connection: 127.0.0.1:6379\n    timeout: 0ms\n", 12, "stores.redis.timeout", "must be positive" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidRateLimit_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Compile_Policies_ReachTheirRoutes()
    {
        var snapshot = ConfigText.Snapshot(Head + """
              per-consumer:
                algorithm: token-bucket
                limit: 100
                window: 1s
                burst: 50
                key: consumer
                headers: true
              combined:
                algorithm: sliding-window
                limit: 5
                window: 1m
                key: [client-ip, "header:x-tenant", "claim:tenant", route]
              in-flight:
                algorithm: concurrency
                limit: 2
              everywhere:
                algorithm: fixed-window
                limit: 90
                window: 1m
                scope: shared
                onStoreFailure: local
                nodes: 3
            stores:
              redis: { connection: "redis.internal:6379", timeout: 20ms }
            routes:
              - { id: a, match: { path: /a }, cluster: orders, rateLimit: per-consumer }
              - { id: b, match: { path: /b }, cluster: orders, rateLimit: COMBINED }
              - { id: c, match: { path: /c }, cluster: orders, rateLimit: in-flight }
              - { id: d, match: { path: /d }, cluster: orders }
              - { id: e, match: { path: /e }, cluster: orders, rateLimit: everywhere }
            """);

        var a = snapshot.RoutePolicies["a"].RateLimit!;
        Assert.Equal((RateLimitAlgorithm.TokenBucket, 100, TimeSpan.FromSeconds(1), 50, true), (a.Algorithm, a.Limit, a.Window, a.Burst, a.Headers));
        Assert.Equal([new RateLimitKeyPart(RateLimitKeyKind.Consumer, "")], a.Key);
        Assert.Equal("\"per-consumer\";q=100;w=1", a.PolicyHeader);
        var b = snapshot.RoutePolicies["b"].RateLimit!;
        Assert.Equal(
            [new(RateLimitKeyKind.ClientIp, ""), new(RateLimitKeyKind.Header, "x-tenant"), new(RateLimitKeyKind.Claim, "tenant"), new RateLimitKeyPart(RateLimitKeyKind.Route, "")],
            b.Key);
        Assert.Equal("\"combined\";q=5;w=60", b.PolicyHeader);
        var c = snapshot.RoutePolicies["c"].RateLimit!;
        Assert.Equal((RateLimitAlgorithm.Concurrency, TimeSpan.Zero, "\"in-flight\";q=2"), (c.Algorithm, c.Window, c.PolicyHeader));
        Assert.Null(snapshot.RoutePolicies["d"].RateLimit);
        var everywhere = snapshot.RoutePolicies["e"].RateLimit!;
        Assert.Equal((RateLimitScope.Shared, StoreFailureMode.Local, 3), (everywhere.Scope, everywhere.OnStoreFailure, everywhere.Nodes));
        Assert.Equal(TimeSpan.FromMilliseconds(20), snapshot.Definition.Stores.Redis!.Timeout);
    }

    [Fact]
    public void Compile_Quota_CarriesPeriodAndADayLongPolicyHeader()
    {
        var snapshot = ConfigText.Snapshot(Head + """
              daily: { algorithm: quota, limit: 1000, period: day, key: consumer }
              monthly: { algorithm: quota, limit: 50000, period: month, key: [consumer, route] }
            routes:
              - { id: a, match: { path: /a }, cluster: orders, rateLimit: daily }
              - { id: b, match: { path: /b }, cluster: orders, rateLimit: monthly }
            """);

        var daily = snapshot.RoutePolicies["a"].RateLimit!;
        Assert.Equal((RateLimitAlgorithm.Quota, 1000, QuotaPeriod.Day, TimeSpan.Zero, "\"daily\";q=1000;w=86400"), (daily.Algorithm, daily.Limit, daily.Period, daily.Window, daily.PolicyHeader));
        var monthly = snapshot.RoutePolicies["b"].RateLimit!;
        Assert.Equal(QuotaPeriod.Month, monthly.Period);
        Assert.Equal("\"monthly\";q=50000;w=2419200", monthly.QuotaPolicyHeader(TimeSpan.FromDays(28)));
    }

    [Fact]
    public void Compile_NoKey_DefaultsToClientIp()
    {
        var snapshot = ConfigText.Snapshot(Head + Valid + Route + "    rateLimit: api\n");

        Assert.Equal([new RateLimitKeyPart(RateLimitKeyKind.ClientIp, "")], snapshot.RoutePolicies["a"].RateLimit!.Key);
    }
}
