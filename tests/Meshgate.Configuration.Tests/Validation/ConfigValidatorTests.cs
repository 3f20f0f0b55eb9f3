using Meshgate.Configuration.Validation;

namespace Meshgate.Configuration.Tests.Validation;

public sealed class ConfigValidatorTests
{
    public static TheoryData<string, int?, string, string> Errors => new()
    {
        { "listeners: [{ name: a, address: 127.0.0.1:8080 }]\ntrustedProxies:\n  - 10.0.0.0/8\n  - 10.0.0.0/33\n", 4, "trustedProxies[1]", "'10.0.0.0/33' is not an address or CIDR (e.g. 10.0.0.0/8, 192.168.1.7, ::1/128)" },
        { "listeners: [{ name: a, address: 127.0.0.1:8080 }]\ntrustedProxies:\n  - proxy.internal\n", 3, "trustedProxies[0]", "'proxy.internal' is not an address or CIDR" },
        { "listeners: [{ name: a, address: 127.0.0.1:8080 }]\ntrustedProxies:\n  - 10.0.0.0/\n", 3, "trustedProxies[0]", "is not an address or CIDR" },
        { "listeners: [{ name: a, address: 127.0.0.1:8080 }]\ntrustedProxies:\n  - ::1/129\n", 3, "trustedProxies[0]", "is not an address or CIDR" },
        { "listeners: [{ name: a, address: 127.0.0.1:8080 }]\nshutdown:\n  drainTimeout: -1s\n", 3, "shutdown.drainTimeout", "must not be negative" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidTopLevel_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Theory]
    [InlineData("10.0.0.0/8")]
    [InlineData("192.168.1.7")]
    [InlineData("::1")]
    [InlineData("fd00::/8")]
    [InlineData("0.0.0.0/0")]
    public void Validate_TrustedProxyForms_AreAccepted(string network)
    {
        var snapshot = ConfigText.Snapshot($"listeners: [{{ name: a, address: 127.0.0.1:8080 }}]\ntrustedProxies: ['{network}']\n");
        Assert.Single(snapshot.TrustedProxies);
    }

    [Fact]
    public void Validate_ZeroDrainTimeout_IsAllowed() =>
        ConfigText.Snapshot("listeners: [{ name: a, address: 127.0.0.1:8080 }]\nshutdown: { drainTimeout: 0s }\n");

    [Fact]
    public void Validate_ManyProblems_ReportsEveryOneWithItsLine()
    {
        const string yaml = """
            listeners:
              - name: public
                address: 0.0.0.0:80800
              - name: public
                address: 127.0.0.1:8081
            admin:
              token: tooshort
            trustedProxies: [10.0.0.0/8, not-a-cidr]
            routes:
              - id: orders
                match: { path: orders }
                cluster: ordrs
              - id: orders
                match: { pathPrefix: /api, methods: [GIT] }
                cluster: orders
                transforms: { pathTemplate: "/v2/{id}" }
            clusters:
              - id: orders
                endpoints:
                  - ftp://10.0.0.1
                  - { url: http://10.0.0.2, weight: 5000 }
                loadBalancing: consistent-hash
                timeouts: { connect: 0s }
              - id: orders
                endpoints: [http://10.0.0.3?x=1]
                hashOn: { header: x-user }
            """;
        string[] expected =
        [
            "meshgate.yaml:4 listeners[1]: duplicate id 'public' (also listeners[0])",
            "meshgate.yaml:3 listeners[0].address: '0.0.0.0:80800' is not host:port",
            "meshgate.yaml:7 admin.token: is shorter than 16 characters; use a long random token",
            "meshgate.yaml:8 trustedProxies[1]: 'not-a-cidr' is not an address or CIDR",
            "meshgate.yaml:24 clusters[1]: duplicate id 'orders' (also clusters[0])",
            "meshgate.yaml:20 clusters[0].endpoints[0]: 'ftp://10.0.0.1' is not an absolute http:// or https:// URL",
            "meshgate.yaml:21 clusters[0].endpoints[1].weight: must be between 0 and 1000, found 5000",
            "meshgate.yaml:18 clusters[0].hashOn: consistent-hash needs hashOn",
            "meshgate.yaml:23 clusters[0].timeouts.connect: must be greater than zero, found 0s",
            "meshgate.yaml:25 clusters[1].endpoints[0]: 'http://10.0.0.3?x=1' must not have a query or fragment",
            "meshgate.yaml:26 clusters[1].hashOn: only used with loadBalancing: consistent-hash (this cluster uses round-robin)",
            "meshgate.yaml:13 routes[1]: duplicate id 'orders' (also routes[0])",
            "meshgate.yaml:12 routes[0].cluster: unknown cluster 'ordrs' (did you mean 'orders'?)",
            "meshgate.yaml:11 routes[0].match.path: 'orders' must start with '/'",
            "meshgate.yaml:14 routes[1].match.methods[0]: 'GIT' is not an HTTP method",
            "meshgate.yaml:16 routes[1].transforms.pathTemplate: uses {id}, which the route's path does not capture",
        ];
        var errors = ConfigText.Errors(yaml).Select(e => e.ToString()).ToList();
        Assert.True(
            errors.Count == expected.Length && expected.Zip(errors).All(p => p.Second.StartsWith(p.First, StringComparison.Ordinal)),
            $"expected {expected.Length} errors, in this order, got {errors.Count}:\n" + string.Join("\n", errors));
    }
}
