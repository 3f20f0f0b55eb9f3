namespace Meshgate.Configuration.Tests.Validation;

public sealed class CorsValidatorTests
{
    // Lines 1-4 hold a listener, a cluster and "cors:"; the policy under test starts on line 5.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: orders, endpoints: [http://10.0.0.1] }\ncors:\n";

    private const string Route = "routes:\n  - id: a\n    match: { path: /a }\n    cluster: orders\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // Route references (the route's cors key is on line 11).
        { Head + "  web:\n    origins: [https://app.example.com]\n" + Route + "    cors: wen\n", 11, "routes[0].cors", "unknown CORS policy 'wen' (did you mean 'web'?)" },
        { Head + "  web:\n    origins: [https://app.example.com]\n" + Route + "    cors: partners\n", 11, "routes[0].cors", "unknown CORS policy 'partners' (defined: web)" },
        { "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters:\n  - { id: orders, endpoints: [http://10.0.0.1] }\n" + Route + "    cors: web\n", 8, "routes[0].cors", "unknown CORS policy 'web' (no cors policies are defined)" },

        // Names.
        { Head + "  disable:\n    origins: [https://app.example.com]\n", 5, "cors.disable", "the name 'disable' is reserved" },

        // Origins.
        { Head + "  web:\n    credentials: true\n", 6, "cors.web.origins", "required key 'origins' is missing" },
        { Head + "  web:\n    origins: []\n", 6, "cors.web.origins", "must list at least one origin" },
        { Head + "  web:\n    credentials: true\n    origins: ['*']\n", 7, "cors.web.origins[0]", "'*' cannot be used with credentials: true" },
        { Head + "  web:\n    origins:\n      - app.example.com\n", 7, "cors.web.origins[0]", "'app.example.com' is not an origin" },
        { Head + "  web:\n    origins:\n      - https://app.example.com/\n", 7, "cors.web.origins[0]", "'https://app.example.com/' is not an origin" },
        { Head + "  web:\n    origins:\n      - https://app.example.com/path\n", 7, "cors.web.origins[0]", "is not an origin" },
        { Head + "  web:\n    origins:\n      - https://app.*.example.com\n", 7, "cors.web.origins[0]", "is not an origin" },
        { Head + "  web:\n    origins:\n      - ftp://app.example.com\n", 7, "cors.web.origins[0]", "is not an origin" },

        // Methods, headers, max age.
        { Head + "  web:\n    origins: [https://a.example.com]\n    methods: [GET, FETCH]\n", 7, "cors.web.methods[1]", "'FETCH' is not an HTTP method" },
        { Head + "  web:\n    origins: [https://a.example.com]\n    headers: ['x bad']\n", 7, "cors.web.headers[0]", "'x bad' is not a valid header name" },
        { Head + "  web:\n    origins: [https://a.example.com]\n    exposeHeaders: ['x:y']\n", 7, "cors.web.exposeHeaders[0]", "'x:y' is not a valid header name" },
        { Head + "  web:\n    origins: [https://a.example.com]\n    maxAge: -5s\n", 7, "cors.web.maxAge", "must not be negative" },
        { Head + "  web:\n    origins: [https://a.example.com]\n    maxAge: 10\n", 7, "cors.web.maxAge", "a duration with a unit" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidCors_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Validate_FullPolicyAndDisable_IsValid()
    {
        var snapshot = ConfigText.Snapshot(Head + """
              web:
                origins: [https://app.example.com, "https://*.example.com", "http://localhost:3000"]
                methods: [GET, post]
                headers: [authorization, x-request-id]
                exposeHeaders: [x-request-id]
                credentials: true
                maxAge: 10m
              open:
                origins: ["*"]
            routes:
              - { id: a, match: { path: /a }, cluster: orders, cors: web }
              - { id: b, match: { path: /b }, cluster: orders, cors: disable }
              - { id: c, match: { path: /c }, cluster: orders, cors: OPEN }
              - { id: d, match: { path: /d }, cluster: orders }
            """);

        var web = snapshot.RoutePolicies["a"].Cors!;
        Assert.True(web.SupportsCredentials);
        Assert.Equal(TimeSpan.FromMinutes(10), web.PreflightMaxAge);
        Assert.Equal(["GET", "POST"], web.Methods);
        Assert.True(web.IsOriginAllowed("https://app.example.com"));
        Assert.True(web.IsOriginAllowed("https://eu.shop.example.com"));
        Assert.False(web.IsOriginAllowed("https://example.com"));
        Assert.False(web.IsOriginAllowed("https://evilexample.com"));
        Assert.False(web.IsOriginAllowed("http://eu.example.com"));
        Assert.False(web.IsOriginAllowed("https://eu.example.com.evil.net"));
        Assert.True(web.IsOriginAllowed("http://localhost:3000"));
        Assert.False(web.IsOriginAllowed("http://localhost:3001"));
        Assert.Null(snapshot.RoutePolicies["b"].Cors);
        Assert.True(snapshot.RoutePolicies["c"].Cors!.AllowAnyOrigin);
        Assert.Null(snapshot.RoutePolicies["d"].Cors);
    }
}
