namespace Meshgate.Configuration.Tests.Validation;

public sealed class AuthorizationValidatorTests
{
    // Lines 1-3: a listener and a cluster; "authorization:" is line 4, its first policy line 5.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: app, endpoints: [http://10.0.0.1] }\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        { Head + "authorization:\n  readers:\n    allow:\n      - { sourceIps: [10.0.0.0/33] }\n", 7, "authorization.readers.allow[0].sourceIps[0]", "'10.0.0.0/33' is not an address or CIDR" },
        { Head + "authorization:\n  readers:\n    allow:\n      - { methods: [FETCH] }\n", 7, "authorization.readers.allow[0].methods[0]", "'FETCH' is not an HTTP method" },
        { Head + "authorization:\n  readers:\n    deny:\n      - { paths: [orders] }\n", 7, "authorization.readers.deny[0].paths[0]", "must be an exact path (/orders/export) or a prefix ending in /** (/orders/**)" },
        { Head + "authorization:\n  readers:\n    deny:\n      - { paths: [/orders/*] }\n", 7, "authorization.readers.deny[0].paths[0]", "must be an exact path" },
        { Head + "authorization:\n  readers:\n    allow:\n      - claims: { dept: { equals: a, contains: b } }\n", 7, "authorization.readers.allow[0].claims.dept", "give exactly one of equals, contains, anyOf (found 2)" },
        { Head + "authorization:\n  readers:\n    allow:\n      - clientCertificate: {}\n", 7, "authorization.readers.allow[0].clientCertificate", "give at least one of subjects, dnsNames, uris" },
        { Head + "authorization:\n  readers:\n    allow:\n      - {}\n", 7, "authorization.readers.allow[0]", "has no conditions, so it matches every request" },
        { Head + "authorization:\n  readers:\n    allow:\n      - { scopes: [] }\n", 7, "authorization.readers.allow[0]", "an empty list of scopes, roles or consumers matches nothing" },
        { Head + "authorization:\n  readers:\n    mode: shadow\n", 5, "authorization.readers", "has no rules" },
        { Head + "authorization:\n  default:\n    allow: [{ authenticated: true }]\n", 5, "authorization.default", "'default' is a reserved name" },
        { Head + "authorization:\n  readers:\n    allow: [{ authenticated: true }]\n    mode: audit\n", 7, "authorization.readers.mode", "expected one of enforce, shadow" },
        { Head + "authorization:\n  readers:\n    allow: [{ authenticated: true }]\nroutes:\n  - { id: a, match: { path: /a }, cluster: app, authorization: reader }\n", 8, "routes[0].authorization", "unknown authorization policy 'reader' (did you mean 'readers'?)" },
        { Head + "routes:\n  - { id: a, match: { path: /a }, cluster: app, authorization: readers }\n", 5, "routes[0].authorization", "unknown authorization policy 'readers' (no authorization policies are defined)" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidAuthorization_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Compile_FullPolicy_AttachedToRoute()
    {
        var snapshot = ConfigText.Snapshot(Head + """
            authorization:
              readers:
                deny:
                  - { sourceIps: [10.66.0.0/16, 192.0.2.7] }
                allow:
                  - { authenticated: true, scopes: [orders.read], methods: [get], paths: [/orders/**, /status] }
                  - claims: { dept: { anyOf: [sales, ops] } }
                    clientCertificate: { uris: ["spiffe://example.org/ns/a/sa/b"] }
            routes:
              - { id: a, match: { path: /a }, cluster: app, authorization: READERS }
            """);
        var policy = snapshot.RoutePolicies["a"].Authorization!;
        Assert.Equal("readers", policy.Name);
        Assert.Equal(2, policy.Deny[0].SourceIps!.Count);
        Assert.Contains("GET", (IReadOnlySet<string>)policy.Allow[0].Methods!);
        Assert.Equal([new Compilation.PathPattern("/orders", true), new Compilation.PathPattern("/status", false)], policy.Allow[0].Paths!);
        Assert.Contains("ops", (IReadOnlySet<string>)policy.Allow[1].Claims![0].AnyOf!);
        Assert.False(policy.Shadow);
    }
}
