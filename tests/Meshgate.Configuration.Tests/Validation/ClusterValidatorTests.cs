namespace Meshgate.Configuration.Tests.Validation;

public sealed class ClusterValidatorTests
{
    // Line 1 is the listener, line 2 the route; the cluster under test starts on line 3.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nroutes: [{ id: r, match: { path: /r }, cluster: a }]\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // Endpoints.
        { Head + "clusters:\n  - id: a\n    endpoints: []\n", 5, "clusters[0].endpoints", "at least one endpoint is required" },
        { Head + "clusters:\n  - id: a\n", 4, "clusters[0].endpoints", "at least one endpoint is required" },
        { Head + "clusters:\n  - id: a\n    endpoints:\n      - /orders\n", 6, "clusters[0].endpoints[0]", "'/orders' is not an absolute http:// or https:// URL" },
        { Head + "clusters:\n  - id: a\n    endpoints:\n      - orders:5000\n", 6, "clusters[0].endpoints[0]", "'orders:5000' is not an absolute http:// or https:// URL" },
        { Head + "clusters:\n  - id: a\n    endpoints:\n      - ftp://10.0.0.1/files\n", 6, "clusters[0].endpoints[0]", "'ftp://10.0.0.1/files' is not an absolute http:// or https:// URL" },
        { Head + "clusters:\n  - id: a\n    endpoints:\n      - http://10.0.0.1:5000/?debug=1\n", 6, "clusters[0].endpoints[0]", "must not have a query or fragment" },
        { Head + "clusters:\n  - id: a\n    endpoints:\n      - http://10.0.0.1:5000/#top\n", 6, "clusters[0].endpoints[0]", "must not have a query or fragment" },
        { Head + "clusters:\n  - id: a\n    endpoints:\n      - http://10.0.0.1:5000\n      - http://10.0.0.1:5000/\n", 7, "clusters[0].endpoints[1]", "is listed twice; use weight" },
        { Head + "clusters:\n  - id: a\n    endpoints:\n      - { url: http://10.0.0.1, weight: 1001 }\n", 6, "clusters[0].endpoints[0].weight", "must be between 0 and 1000, found 1001" },
        { Head + "clusters:\n  - id: a\n    endpoints:\n      - http://10.0.0.2\n      - { url: http://10.0.0.1, weight: -1 }\n", 7, "clusters[0].endpoints[1].weight", "must be between 0 and 1000, found -1" },
        { Head + "clusters:\n  - id: a\n    endpoints:\n      - { url: http://10.0.0.1, weight: 0 }\n      - { url: http://10.0.0.2, weight: 0 }\n", 5, "clusters[0].endpoints", "every endpoint has weight 0" },

        // Ids.
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n  - id: A\n    endpoints: [http://10.0.0.2]\n", 6, "clusters[1]", "duplicate id 'A' (also clusters[0])" },
        { "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - id: ''\n    endpoints: [http://10.0.0.1]\n", 3, "clusters[0]", "the id must not be empty" },

        // Load balancing and hashOn.
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    loadBalancing: consistent-hash\n", 4, "clusters[0].hashOn", "consistent-hash needs hashOn" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    hashOn: { header: x-user }\n", 6, "clusters[0].hashOn", "only used with loadBalancing: consistent-hash (this cluster uses round-robin)" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    loadBalancing: least-requests\n    hashOn: { clientIp: true }\n", 7, "clusters[0].hashOn", "(this cluster uses least-requests)" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    loadBalancing: consistent-hash\n    hashOn: { header: x-user, cookie: sid }\n", 7, "clusters[0].hashOn", "give exactly one of header, cookie, clientIp: true (found 2)" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    loadBalancing: consistent-hash\n    hashOn: {}\n", 7, "clusters[0].hashOn", "(found 0)" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    loadBalancing: consistent-hash\n    hashOn:\n      header: x user\n", 8, "clusters[0].hashOn.header", "'x user' is not a valid header name" },

        // Health checks.
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    healthCheck:\n      path: healthz\n", 7, "clusters[0].healthCheck.path", "'healthz' must start with '/'" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    healthCheck:\n      path: /healthz\n      interval: 0s\n", 8, "clusters[0].healthCheck.interval", "must be greater than zero, found 0s" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    healthCheck:\n      path: /healthz\n      timeout: -2s\n", 8, "clusters[0].healthCheck.timeout", "must be greater than zero, found -2s" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    healthCheck:\n      path: /healthz\n      healthyThreshold: 0\n", 8, "clusters[0].healthCheck.healthyThreshold", "must be at least 1" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    healthCheck:\n      path: /healthz\n      unhealthyThreshold: -1\n", 8, "clusters[0].healthCheck.unhealthyThreshold", "must be at least 1" },

        // Timeouts.
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    timeouts:\n      connect: 0s\n", 7, "clusters[0].timeouts.connect", "must be greater than zero, found 0s" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    timeouts:\n      request: -100ms\n", 7, "clusters[0].timeouts.request", "must be greater than zero, found -100ms" },

        // Forwarder: direct needs a cluster the direct HTTP/1.1 path can serve.
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    httpVersion: \"2\"\n    forwarder: direct\n", 7, "clusters[0].forwarder", "direct needs a cluster it can reach over HTTP/1.1, but this one cannot: cluster asks for HTTP/2 (httpVersion: \"2\"); use auto or yarp" },
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    circuitBreaker: { maxConnectionsPerEndpoint: 10 }\n    forwarder: direct\n", 7, "clusters[0].forwarder", "cannot: cluster limits connections per endpoint" },

        // Upstream TLS.
        { Head + "clusters:\n  - id: a\n    endpoints: [http://10.0.0.1]\n    tls: { insecureSkipVerify: true }\n", 6, "clusters[0].tls", "has no effect: the cluster has no https:// endpoints" },
        { Head + "clusters:\n  - id: a\n    endpoints: [https://10.0.0.1]\n    tls:\n      ca: certs/missing-ca.pem\n", 7, "clusters[0].tls.ca", "file 'certs/missing-ca.pem' does not exist" },
        { Head + "clusters:\n  - id: a\n    endpoints: [https://10.0.0.1]\n    tls:\n      sni: not a host\n", 7, "clusters[0].tls.sni", "'not a host' is not a DNS name" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidCluster_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Validate_ClientCertWithoutKey_ReportsPairAndMissingFile()
    {
        var errors = ConfigText.Errors(Head + "clusters:\n  - id: a\n    endpoints: [https://10.0.0.1]\n    tls:\n      clientCert: client.pem\n");
        Assert.Equal(
        [
            "meshgate.yaml:6 clusters[0].tls: clientCert and clientKey go together",
            "meshgate.yaml:7 clusters[0].tls.clientCert: file 'client.pem' does not exist",
        ], errors.Select(e => e.ToString().Split(" (looked for")[0]));
    }

    [Fact]
    public void Validate_TlsFilesPresent_ResolvesRelativeToConfigDirectory()
    {
        var directory = TestKit.TempDirectory.Create();
        Directory.CreateDirectory(Path.Combine(directory, "certs"));
        File.WriteAllText(Path.Combine(directory, "certs", "ca.pem"), "not a certificate");
        var errors = ConfigText.Errors(Head + "clusters:\n  - id: a\n    endpoints: [https://10.0.0.1]\n    tls: { ca: certs/ca.pem }\n", directory);
        var error = Assert.Single(errors);
        Assert.Equal("clusters[0].tls.ca", error.Path);
        Assert.Contains("holds no PEM certificates", error.Message, StringComparison.Ordinal);
        Assert.Equal(6, error.Line);
    }

    [Fact]
    public void Validate_WeightsWithinRangeAndSomeZero_IsValid()
    {
        var snapshot = ConfigText.Snapshot(Head + """
            clusters:
              - id: a
                endpoints:
                  - { url: http://10.0.0.1, weight: 0 }
                  - { url: http://10.0.0.2, weight: 1000 }
                  - http://10.0.0.3
                loadBalancing: consistent-hash
                hashOn: { cookie: sid }
            """);
        Assert.Equal(3, snapshot.Clusters[0].Destinations!.Count);
    }

    [Fact]
    public void Validate_ForwarderDirectOnATlsCluster_IsValid()
    {
        var snapshot = ConfigText.Snapshot(Head + """
            clusters:
              - id: a
                endpoints: [https://10.0.0.1]
                tls: { insecureSkipVerify: true }
                forwarder: direct
            """);
        Assert.Null(snapshot.ClusterPolicies["a"].DirectObstacle);
    }
}
