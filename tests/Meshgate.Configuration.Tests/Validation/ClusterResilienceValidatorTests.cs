using Meshgate.Configuration.Compilation;

namespace Meshgate.Configuration.Tests.Validation;

public sealed class ClusterResilienceValidatorTests
{
    // Line 1 is the listener, line 2 the route; the cluster starts on line 3, its endpoints are line 5.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nroutes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters:\n  - id: a\n    endpoints: [http://10.0.0.1, http://10.0.0.2]\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // circuitBreaker.
        { Head + "    circuitBreaker: {}\n", 6, "clusters[0].circuitBreaker", "sets no limit; give at least one of maxConcurrentRequests, maxPendingRequests, maxConnectionsPerEndpoint" },
        { Head + "    circuitBreaker:\n      maxConcurrentRequests: 0\n", 7, "clusters[0].circuitBreaker.maxConcurrentRequests", "must be at least 1, found 0" },
        { Head + "    circuitBreaker:\n      maxConcurrentRequests: -5\n", 7, "clusters[0].circuitBreaker.maxConcurrentRequests", "must be at least 1, found -5" },
        { Head + "    circuitBreaker:\n      maxConnectionsPerEndpoint: 0\n", 7, "clusters[0].circuitBreaker.maxConnectionsPerEndpoint", "must be at least 1, found 0" },
        { Head + "    circuitBreaker:\n      maxConnectionsPerEndpoint: 4\n      maxPendingRequests: -1\n", 8, "clusters[0].circuitBreaker.maxPendingRequests", "must be 0 or more, found -1" },
        { Head + "    circuitBreaker:\n      maxPendingRequests: 10\n", 7, "clusters[0].circuitBreaker.maxPendingRequests", "needs maxConnectionsPerEndpoint" },
        { Head + "    circuitBreaker:\n      maxConcurrentRequests: lots\n", 7, "clusters[0].circuitBreaker.maxConcurrentRequests", "expected a whole number, found 'lots'" },
        { Head + "    circuitBreaker:\n      maxConcurrentRequest: 5\n", 7, "clusters[0].circuitBreaker.maxConcurrentRequest", "did you mean 'maxConcurrentRequests'?" },

        // outlierDetection.
        { Head + "    outlierDetection:\n      consecutive5xx: 0\n", 7, "clusters[0].outlierDetection.consecutive5xx", "must be at least 1, found 0" },
        { Head + "    outlierDetection:\n      consecutiveGatewayErrors: -1\n", 7, "clusters[0].outlierDetection.consecutiveGatewayErrors", "must be at least 1, found -1" },
        { Head + "    outlierDetection:\n      interval: 0s\n", 7, "clusters[0].outlierDetection.interval", "must be greater than zero, found 0s" },
        { Head + "    outlierDetection:\n      baseEjectionTime: -1s\n", 7, "clusters[0].outlierDetection.baseEjectionTime", "must be greater than zero, found -1s" },
        { Head + "    outlierDetection:\n      baseEjectionTime: 1m\n      maxEjectionTime: 30s\n", 8, "clusters[0].outlierDetection.maxEjectionTime", "must be at least baseEjectionTime (1m), found 30s" },
        { Head + "    outlierDetection:\n      maxEjectionPercent: 0\n", 7, "clusters[0].outlierDetection.maxEjectionPercent", "must be between 1 and 100, found 0" },
        { Head + "    outlierDetection:\n      maxEjectionPercent: 101\n", 7, "clusters[0].outlierDetection.maxEjectionPercent", "must be between 1 and 100, found 101" },
        { Head + "    outlierDetection:\n      successRate:\n        minimumHosts: 0\n", 8, "clusters[0].outlierDetection.successRate.minimumHosts", "must be at least 1, found 0" },
        { Head + "    outlierDetection:\n      successRate:\n        requestVolume: 0\n", 8, "clusters[0].outlierDetection.successRate.requestVolume", "must be at least 1, found 0" },
        { Head + "    outlierDetection:\n      successRate:\n        stdevFactor: 0\n", 8, "clusters[0].outlierDetection.successRate.stdevFactor", "must be a number greater than zero, found 0" },
        { Head + "    outlierDetection:\n      successRate:\n        stdevFactor: -1.5\n", 8, "clusters[0].outlierDetection.successRate.stdevFactor", "must be a number greater than zero, found -1.5" },
        { Head + "    outlierDetection:\n      successRate:\n        stdevFactor: NaN\n", 8, "clusters[0].outlierDetection.successRate.stdevFactor", "must be a number greater than zero, found NaN" },

        // The former passive health section: a migration error naming the equivalent.
        { Head + "    passiveHealth:\n      consecutiveFailures: 3\n      ejectFor: 2s\n", 6, "clusters[0].passiveHealth",
            "was replaced by outlierDetection; the nearest equivalent is outlierDetection: { consecutive5xx: 3, baseEjectionTime: 2s, maxEjectionPercent: 100 }" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidResilienceSection_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Compile_FullSections_BuildsPoliciesAndYarpSettings()
    {
        var snapshot = ConfigText.Snapshot(Head + """
                circuitBreaker: { maxConcurrentRequests: 1000, maxPendingRequests: 0, maxConnectionsPerEndpoint: 100 }
                outlierDetection:
                  consecutive5xx: 4
                  consecutiveGatewayErrors: 2
                  interval: 5s
                  baseEjectionTime: 10s
                  maxEjectionTime: 25s
                  maxEjectionPercent: 30
                  successRate: { minimumHosts: 3, requestVolume: 50, stdevFactor: 1.5 }
            """.Replace("            ", "", StringComparison.Ordinal));

        var policy = snapshot.ClusterPolicies["a"];
        Assert.Equal(new CircuitBreakerPolicy(1000, 0, 100), policy.CircuitBreaker);
        Assert.Equal(new OutlierDetectionPolicy(4, 2, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(25), 30, new SuccessRatePolicy(3, 50, 1.5)), policy.OutlierDetection);
        var cluster = Assert.Single(snapshot.Clusters);
        Assert.Equal(100, cluster.HttpClient!.MaxConnectionsPerServer);
        Assert.Equal(PolicyNames.OutlierDetection, cluster.HealthCheck!.Passive!.Policy);
        Assert.True(cluster.HealthCheck.Passive.Enabled);
        // The n-th ejection lasts n × base, capped at the maximum.
        Assert.Equal([TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(25)], new[] { 1, 2, 3 }.Select(policy.OutlierDetection!.EjectionTime));
    }

    [Fact]
    public void Compile_NoSections_NothingEnabled()
    {
        var snapshot = ConfigText.Snapshot(Head);

        var policy = snapshot.ClusterPolicies["a"];
        Assert.Null(policy.CircuitBreaker);
        Assert.Null(policy.OutlierDetection);
        var cluster = Assert.Single(snapshot.Clusters);
        Assert.Null(cluster.HttpClient!.MaxConnectionsPerServer);
        Assert.Null(cluster.HealthCheck!.Passive);
    }

    [Fact]
    public void Compile_OutlierDetectionDefaults_AreEnvoyLikeAndDocumented()
    {
        var policy = ConfigText.Snapshot(Head + "    outlierDetection: { successRate: {} }\n").ClusterPolicies["a"].OutlierDetection;

        Assert.Equal(new OutlierDetectionPolicy(5, null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(300), 50, new SuccessRatePolicy(5, 100, 1.9)), policy);
    }
}
