using Meshgate.Configuration.Compilation;

namespace Meshgate.Configuration.Tests.Validation;

public sealed class ResilienceValidatorTests
{
    // Lines 1-4 hold a listener, a cluster and "resilience:"; the policy under test starts on line 5.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: orders, endpoints: [http://10.0.0.1] }\nresilience:\n";

    private const string Route = "routes:\n  - id: a\n    match: { path: /a }\n    cluster: orders\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // Timeouts.
        { Head + "  p:\n    timeout: 0s\n", 6, "resilience.p.timeout", "must be greater than zero" },
        { Head + "  p:\n    timeout: -1s\n", 6, "resilience.p.timeout", "must be greater than zero" },
        { Head + "  p:\n    perTryTimeout: 0ms\n", 6, "resilience.p.perTryTimeout", "must be greater than zero" },
        { Head + "  p:\n    timeout: 1s\n    perTryTimeout: 2s\n", 7, "resilience.p.perTryTimeout", "2s is longer than timeout 1s" },
        { Head + "  p:\n    timeout: 10\n", 6, "resilience.p.timeout", "a duration with a unit" },

        // Retries.
        { Head + "  p:\n    retries: { attempts: 0 }\n", 6, "resilience.p.retries.attempts", "0 is out of range: give 1..10" },
        { Head + "  p:\n    retries: { attempts: 11 }\n", 6, "resilience.p.retries.attempts", "11 is out of range" },
        { Head + "  p:\n    retries:\n      on: [reset, conect-failure]\n", 7, "resilience.p.retries.on[1]", "unknown retry condition 'conect-failure' (did you mean 'connect-failure'?)" },
        { Head + "  p:\n    retries:\n      on: [teapot]\n", 7, "resilience.p.retries.on[0]", "unknown retry condition 'teapot' (one of connect-failure, reset, timeout, gateway-error, 5xx; for a status, use statusCodes)" },
        { Head + "  p:\n    retries:\n      statusCodes: [409, 99]\n", 7, "resilience.p.retries.statusCodes[1]", "99 is not an HTTP status (100..599)" },
        { Head + "  p:\n    retries:\n      statusCodes: [600]\n", 7, "resilience.p.retries.statusCodes[0]", "600 is not an HTTP status" },
        { Head + "  p:\n    retries:\n      maxBufferedBody: 1GiB\n", 7, "resilience.p.retries.maxBufferedBody", "is more than 64MiB; every retried request keeps its body in memory" },
        { Head + "  p:\n    retries:\n      maxBufferedBody: lots\n", 7, "resilience.p.retries.maxBufferedBody", "a size like" },
        { Head + "  p:\n    retries:\n      backoff: { base: -1ms }\n", 7, "resilience.p.retries.backoff.base", "must not be negative" },
        { Head + "  p:\n    retries:\n      backoff: { base: 2s, max: 1s }\n", 7, "resilience.p.retries.backoff.max", "1s is shorter than base 2s" },
        { Head + "  p:\n    retries:\n      tries: 3\n", 7, "resilience.p.retries.tries", "unknown key" },

        // Hedging.
        { Head + "  p:\n    hedging: { delay: 0s }\n", 6, "resilience.p.hedging.delay", "must be greater than zero" },
        { Head + "  p:\n    hedging: { delay: 50ms, maxAttempts: 1 }\n", 6, "resilience.p.hedging.maxAttempts", "1 is out of range: give 2..5" },
        { Head + "  p:\n    hedging:\n      maxAttempts: 2\n", 7, "resilience.p.hedging.delay", "required key 'delay' is missing" },
        { Head + "  p:\n    retries: { nonIdempotent: true }\n    hedging: { delay: 50ms }\n", 7, "resilience.p.hedging", "cannot be used with retries.nonIdempotent: true" },

        // Names and references (the route's resilience key is on line 11).
        { Head + "  disable:\n    timeout: 1s\n", 5, "resilience.disable", "the name 'disable' is reserved" },
        { Head + "  standard:\n    timeout: 1s\n" + Route + "    resilience: standrd\n", 11, "routes[0].resilience", "unknown resilience policy 'standrd' (did you mean 'standard'?)" },
        { Head + "  standard:\n    timeout: 1s\n" + Route + "    resilience: gold\n", 11, "routes[0].resilience", "unknown resilience policy 'gold' (defined: standard)" },
        { "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: orders, endpoints: [http://10.0.0.1] }\n" + Route + "    resilience: standard\n", 8, "routes[0].resilience", "unknown resilience policy 'standard' (no resilience policies are defined)" },
        { Head + "  h:\n    hedging: { delay: 50ms }\nroutes:\n  - id: a\n    match: { path: /a, methods: [POST, PATCH] }\n    cluster: orders\n    resilience: h\n", 11, "routes[0].resilience", "policy 'h' hedges, but hedging sends only body-less idempotent requests (GET, HEAD, OPTIONS, DELETE) and this route takes POST, PATCH" },

        // Retry budgets.
        { "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - id: orders\n    endpoints: [http://10.0.0.1]\n    retryBudget: { percent: 150 }\n", 5, "clusters[0].retryBudget.percent", "150 is out of range: give 0..100" },
        { "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - id: orders\n    endpoints: [http://10.0.0.1]\n    retryBudget: { minConcurrent: -1 }\n", 5, "clusters[0].retryBudget.minConcurrent", "-1 must not be negative" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidResilience_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Compile_Policies_DefaultAppliesToRoutesWithoutOneAndDisableOptsOut()
    {
        var snapshot = ConfigText.Snapshot(Head + """
              default:
                timeout: 5s
              standard:
                timeout: 10s
                perTryTimeout: 2s
                retries: { attempts: 4, on: [gateway-error], statusCodes: [409], maxBufferedBody: 1KiB, backoff: { base: 10ms, max: 100ms } }
                hedging: { delay: 100ms, maxAttempts: 3 }
            routes:
              - { id: a, match: { path: /a }, cluster: orders, resilience: standard }
              - { id: b, match: { path: /b }, cluster: orders }
              - { id: c, match: { path: /c }, cluster: orders, resilience: disable }
            """);

        var a = snapshot.RoutePolicies["a"].Resilience!;
        Assert.Equal(TimeSpan.FromSeconds(10), a.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(2), a.PerTryTimeout);
        Assert.Equal(4, a.Retry!.Attempts);
        Assert.Equal(RetryOn.GatewayStatus | RetryOn.ConnectFailure | RetryOn.Reset | RetryOn.Timeout, a.Retry.On);
        Assert.True(a.Retry.RetriesStatus(409) && a.Retry.RetriesStatus(503));
        Assert.False(a.Retry.RetriesStatus(500));
        Assert.Equal(1024, a.Retry.MaxBufferedBody);
        Assert.Equal(new HedgingPolicy(TimeSpan.FromMilliseconds(100), 3), a.Hedging);
        // The deadline is the gateway's own step, not YARP's RouteConfig.Timeout (which needs ASP.NET Core's request-timeouts middleware).
        Assert.Null(snapshot.Routes.Single(r => r.RouteId == "a").Timeout);
        Assert.Equal("true", snapshot.Clusters.Single().Metadata![MetadataKeys.Hedged]);

        Assert.Equal("default", snapshot.RoutePolicies["b"].Resilience!.Name);
        Assert.Equal(TimeSpan.FromSeconds(5), snapshot.RoutePolicies["b"].Resilience!.Timeout);
        Assert.Null(snapshot.RoutePolicies["c"].Resilience);
        Assert.Equal(RetryBudgetPolicy.Default, snapshot.ClusterPolicies["orders"].RetryBudget);
    }

    [Fact]
    public void Compile_RetriesWithoutOn_DefaultConditions()
    {
        var snapshot = ConfigText.Snapshot(Head + "  p:\n    retries: {}\n" + Route + "    resilience: p\n");
        var retry = snapshot.RoutePolicies["a"].Resilience!.Retry!;
        Assert.Equal(3, retry.Attempts);
        Assert.Equal(RetryOn.ConnectFailure | RetryOn.Reset | RetryOn.Timeout | RetryOn.GatewayStatus, retry.On);
        Assert.False(retry.NonIdempotent);
        Assert.Equal(64 * 1024, retry.MaxBufferedBody);
    }
}
