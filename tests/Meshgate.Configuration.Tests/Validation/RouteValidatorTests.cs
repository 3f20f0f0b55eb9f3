namespace Meshgate.Configuration.Tests.Validation;

public sealed class RouteValidatorTests
{
    // Lines 1-4 hold a listener and two clusters; the route under test starts on line 5 with "routes:".
    private const string Clusters = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: orders, endpoints: [http://10.0.0.1] }\n  - { id: users, endpoints: [http://10.0.0.2] }\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // Cluster references.
        { Clusters + "routes:\n  - id: a\n    match: { path: /a }\n    cluster: ordrs\n", 8, "routes[0].cluster", "unknown cluster 'ordrs' (did you mean 'orders'?)" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /a }\n    cluster: billing\n", 8, "routes[0].cluster", "unknown cluster 'billing' (defined: orders, users)" },
        { "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nroutes:\n  - id: a\n    match: { path: /a }\n    cluster: orders\n", 5, "routes[0].cluster", "unknown cluster 'orders' (no clusters are defined)" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /a, listeners: [pubic] }\n    cluster: orders\n", 7, "routes[0].match.listeners[0]", "unknown listener 'pubic' (did you mean 'public'?)" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /a, listeners: [internal] }\n    cluster: orders\n", 7, "routes[0].match.listeners[0]", "unknown listener 'internal' (defined: public)" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /a, listeners: [] }\n    cluster: orders\n", 7, "routes[0].match.listeners", "an empty list matches nothing; leave listeners out to match every listener" },

        // preserveHost cannot carry a configured upstream SNI (the Host header is the TLS server name in .NET).
        { "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: pay, endpoints: [https://10.0.0.1], tls: { sni: pay.internal } }\nroutes:\n  - id: a\n    match: { path: /a }\n    cluster: pay\n    transforms: { preserveHost: true }\n", 8, "routes[0].transforms.preserveHost", "cannot be used with cluster 'pay', which sets tls.sni 'pay.internal'" },

        // Ids.
        { Clusters + "routes:\n  - { id: a, match: { path: /a }, cluster: orders }\n  - { id: b, match: { path: /b }, cluster: orders }\n  - { id: a, match: { path: /c }, cluster: orders }\n", 8, "routes[2]", "duplicate id 'a' (also routes[0])" },
        { Clusters + "routes:\n  - id: ''\n    match: { path: /a }\n    cluster: orders\n", 6, "routes[0]", "the id must not be empty" },

        // Path and pathPrefix.
        { Clusters + "routes:\n  - id: a\n    match: { methods: [GET] }\n    cluster: orders\n", 7, "routes[0].match", "needs path (e.g. /orders/{id}, /{**rest}) or pathPrefix" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /a, pathPrefix: /a }\n    cluster: orders\n", 7, "routes[0].match", "give either path or pathPrefix, not both" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: orders\n    cluster: orders\n", 8, "routes[0].match.path", "'orders' must start with '/'" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /orders/{id\n    cluster: orders\n", 8, "routes[0].match.path", "'/orders/{id' is not a valid path template" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /orders/{id}/{id}\n    cluster: orders\n", 8, "routes[0].match.path", "is not a valid path template" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /files/{**rest}/more\n    cluster: orders\n", 8, "routes[0].match.path", "is not a valid path template" },
        { Clusters + "routes:\n  - id: a\n    match:\n      pathPrefix: api\n    cluster: orders\n", 8, "routes[0].match.pathPrefix", "'api' must start with '/'" },
        { Clusters + "routes:\n  - id: a\n    match:\n      pathPrefix: /api/{version}\n    cluster: orders\n", 8, "routes[0].match.pathPrefix", "'/api/{version}' must be a literal path; use path for templates" },
        { Clusters + "routes:\n  - id: a\n    match:\n      pathPrefix: /api/*\n    cluster: orders\n", 8, "routes[0].match.pathPrefix", "must be a literal path" },

        // Methods and hosts.
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      methods: [GET, FETCH]\n    cluster: orders\n", 9, "routes[0].match.methods[1]", "'FETCH' is not an HTTP method" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      methods: []\n    cluster: orders\n", 9, "routes[0].match.methods", "an empty list matches nothing" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      hosts: [example.*]\n    cluster: orders\n", 9, "routes[0].match.hosts[0]", "'example.*' is not a host name (a wildcard may only lead" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      hosts: ['exa mple.com']\n    cluster: orders\n", 9, "routes[0].match.hosts[0]", "is not a host name" },

        // Header conditions.
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      headers:\n        - { name: 'x tenant', present: true }\n    cluster: orders\n", 10, "routes[0].match.headers[0].name", "'x tenant' is not a valid header name" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      headers:\n        - { name: 'x-tenant:', present: true }\n    cluster: orders\n", 10, "routes[0].match.headers[0].name", "'x-tenant:' is not a valid header name" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      headers:\n        - { name: x-tenant }\n    cluster: orders\n", 10, "routes[0].match.headers[0]", "give exactly one of exact, prefix, regex, present: true, absent: true (found 0)" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      headers:\n        - { name: x-tenant, exact: [a], present: true }\n    cluster: orders\n", 10, "routes[0].match.headers[0]", "(found 2)" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      headers:\n        - name: x-tenant\n          exact: []\n    cluster: orders\n", 11, "routes[0].match.headers[0].exact", "must list at least one value" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      headers:\n        - name: x-tenant\n          regex: '^(blue|green$'\n    cluster: orders\n", 11, "routes[0].match.headers[0].regex", "not a valid regular expression" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      headers:\n        - name: x-tenant\n          regex: '[z-a]'\n    cluster: orders\n", 11, "routes[0].match.headers[0].regex", "not a valid regular expression" },

        // Query conditions.
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      query:\n        - { name: v }\n    cluster: orders\n", 10, "routes[0].match.query[0]", "give exactly one of exact, prefix, contains, present: true (found 0)" },
        { Clusters + "routes:\n  - id: a\n    match:\n      path: /a\n      query:\n        - name: ''\n          present: true\n    cluster: orders\n", 10, "routes[0].match.query[0].name", "must not be empty" },

        // Transforms.
        { Clusters + "routes:\n  - id: a\n    match: { path: /a }\n    cluster: orders\n    transforms: { stripPrefix: /a, pathTemplate: /b }\n", 9, "routes[0].transforms", "give at most one of stripPrefix, replacePrefix, pathTemplate" },
        { Clusters + "routes:\n  - id: a\n    match: { pathPrefix: /api }\n    cluster: orders\n    transforms:\n      stripPrefix: api\n", 10, "routes[0].transforms.stripPrefix", "'api' must be a literal path starting with '/'" },
        { Clusters + "routes:\n  - id: a\n    match: { pathPrefix: /api }\n    cluster: orders\n    transforms:\n      replacePrefix: { from: \"/api/{v}\", to: /v2 }\n", 10, "routes[0].transforms.replacePrefix.from", "'/api/{v}' must be a literal path" },
        { Clusters + "routes:\n  - id: a\n    match: { pathPrefix: /api }\n    cluster: orders\n    transforms:\n      replacePrefix:\n        from: /api\n        to: v2\n", 12, "routes[0].transforms.replacePrefix.to", "'v2' must be empty or a literal path starting with '/'" },
        { Clusters + "routes:\n  - id: a\n    match: { path: '/orders/{id}' }\n    cluster: orders\n    transforms:\n      pathTemplate: '/v2/items/{itemId}'\n", 10, "routes[0].transforms.pathTemplate", "uses {itemId}, which the route's path does not capture (it has: id)" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /orders }\n    cluster: orders\n    transforms:\n      pathTemplate: '/v2/{id}'\n", 10, "routes[0].transforms.pathTemplate", "uses {id}, which the route's path does not capture (it has: none)" },
        { Clusters + "routes:\n  - id: a\n    match: { pathPrefix: /orders }\n    cluster: orders\n    transforms:\n      pathTemplate: '/v2/{id}'\n", 10, "routes[0].transforms.pathTemplate", "uses {id}, which the route's path does not capture (it has: none)" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /orders }\n    cluster: orders\n    transforms:\n      pathTemplate: 'v2/orders'\n", 10, "routes[0].transforms.pathTemplate", "'v2/orders' must start with '/'" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /orders }\n    cluster: orders\n    transforms:\n      pathTemplate: '/v2/{'\n", 10, "routes[0].transforms.pathTemplate", "is not a valid path template" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /a }\n    cluster: orders\n    transforms:\n      requestHeaders:\n        set:\n          'x bad': '1'\n", 12, "routes[0].transforms.requestHeaders.set.x bad", "'x bad' is not a valid header name" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /a }\n    cluster: orders\n    transforms:\n      responseHeaders:\n        append:\n          'x(y)': '1'\n", 12, "routes[0].transforms.responseHeaders.append.x(y)", "'x(y)' is not a valid header name" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /a }\n    cluster: orders\n    transforms:\n      requestHeaders:\n        remove:\n          - x-ok\n          - 'x:bad'\n", 13, "routes[0].transforms.requestHeaders.remove[1]", "'x:bad' is not a valid header name" },
        { Clusters + "routes:\n  - id: a\n    match: { path: /a }\n    cluster: orders\n    transforms:\n      requestHeaders:\n        set:\n          x-a: \"one\\r\\nx-b: two\"\n", 12, "routes[0].transforms.requestHeaders.set.x-a", "header values must not contain line breaks" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidRoute_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Validate_UnknownClusterInThirdRoute_PrintsFileLinePathAndSuggestion()
    {
        const string yaml = """
            listeners:
              - name: public
                address: 0.0.0.0:8080
            clusters:
              - id: orders
                endpoints: [http://10.0.0.1:5000]
            routes:
              - id: health
                match: { path: /health }
                cluster: orders
              - id: list
                match: { path: /orders }
                cluster: orders
              - id: one
                match: { path: "/orders/{id}" }
                cluster: ordrs
            """;
        var error = Assert.Single(ConfigText.Errors(yaml));
        Assert.Equal("meshgate.yaml:16 routes[2].cluster: unknown cluster 'ordrs' (did you mean 'orders'?)", error.ToString());
    }

    [Fact]
    public void Validate_MatchKindsAndTransforms_AreValid()
    {
        var snapshot = ConfigText.Snapshot(Clusters + """
            routes:
              - id: exact
                match: { path: /health, methods: [get, HEAD] }
                cluster: orders
              - id: template
                order: -1
                match: { path: "/orders/{id}", hosts: ["*.example.com", "api.example.com:8443"] }
                cluster: orders
                transforms: { pathTemplate: "/v2/items/{id}" }
              - id: catch-all
                match:
                  path: "/{**rest}"
                  headers:
                    - { name: x-tenant, exact: [blue, green], caseSensitive: true }
                    - { name: x-canary, present: true }
                    - { name: x-debug, absent: true }
                    - { name: x-version, regex: "^v[0-9]+$" }
                  query:
                    - { name: v, prefix: ["2"] }
                    - { name: debug, present: true }
                cluster: users
                transforms:
                  preserveHost: true
                  requestHeaders: { set: { x-gateway: meshgate }, append: { via: meshgate }, remove: [cookie] }
                  responseHeaders: { remove: [server] }
              - id: prefix
                match: { pathPrefix: /api/ }
                cluster: users
                transforms: { replacePrefix: { from: /api, to: "" } }
            """);
        Assert.Equal(["exact", "template", "catch-all", "prefix"], snapshot.Routes.Select(r => r.RouteId));
        Assert.Equal(["GET", "HEAD"], snapshot.Routes[0].Match.Methods!);
        Assert.Equal("/api/{**remainder}", snapshot.Routes[3].Match.Path);
    }
}
