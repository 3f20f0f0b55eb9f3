using System.Net;
using Meshgate.IntegrationTests.Forwarding;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Transforms;

/// <summary>Each route transform, as the upstream (path, headers, Host) and the client (response headers) see it.</summary>
public sealed class RouteTransformsTests : IAsyncLifetime
{
    private TestUpstream _echo = null!;
    private readonly Dictionary<string, TestGateway> _gateways = [];

    public async Task InitializeAsync()
    {
        _echo = await EchoUpstream.StartAsync(context =>
        {
            context.Response.Headers["x-upstream-internal"] = "secret";
            context.Response.Headers["x-upstream-append"] = "from-upstream";
            if (context.Request.Path.StartsWithSegments("/fail")) context.Response.StatusCode = 503;
        });
        foreach (var forwarder in new[] { "auto", "yarp" })
        {
            _gateways[forwarder] = await TestGateway.StartAsync($$"""
            routes:
              - id: strip
                match: { pathPrefix: /api }
                cluster: echo
                transforms: { stripPrefix: /api }
              - id: replace
                match: { pathPrefix: /v1 }
                cluster: echo
                transforms: { replacePrefix: { from: /v1, to: /v2 } }
              - id: template
                match: { path: "/items/{id}" }
                cluster: echo
                transforms: { pathTemplate: "/catalog/items/{id}" }
              - id: headers
                match: { pathPrefix: /headers }
                cluster: echo
                transforms:
                  requestHeaders:
                    set: { x-set: gateway }
                    append: { x-append: gateway }
                    remove: [x-remove]
                  responseHeaders:
                    set: { x-served-by: meshgate }
                    append: { x-upstream-append: gateway }
                    remove: [x-upstream-internal]
              - id: fail
                match: { pathPrefix: /fail }
                cluster: echo
                transforms:
                  responseHeaders:
                    set: { x-served-by: meshgate }
                    remove: [x-upstream-internal]
              - id: preserve
                match: { pathPrefix: /preserve }
                cluster: echo
                transforms: { preserveHost: true }
              - id: plain
                match: { pathPrefix: /plain }
                cluster: echo
            clusters:
              - { id: echo, endpoints: ["{{_echo.Endpoint}}"], forwarder: {{forwarder}} }
            """);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways.Values) await gateway.DisposeAsync();
        await _echo.DisposeAsync();
    }

    /// <summary>Sends through the gateway of <paramref name="forwarder"/> and checks that the path it asks for served it.</summary>
    private async Task<EchoedRequest> ForwardedAsync(string forwarder, string path, Action<HttpRequestMessage>? setup = null, bool directRoute = true)
    {
        var gateway = _gateways[forwarder];
        var before = gateway.DirectRequests();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        setup?.Invoke(request);
        using var response = await gateway.Client.SendAsync(request);
        var echoed = await EchoedRequest.ReadAsync(response);
        Assert.Equal(forwarder == "auto" && directRoute ? before + 1 : before, gateway.DirectRequests());
        return echoed;
    }

    [Theory]
    [InlineData("/api/orders", "/orders", "", "auto")]
    [InlineData("/api/orders", "/orders", "", "yarp")]
    [InlineData("/api/orders/7?x=1", "/orders/7", "?x=1", "auto")]
    [InlineData("/api/orders/7?x=1", "/orders/7", "?x=1", "yarp")]
    [InlineData("/api", "/", "", "auto")]
    [InlineData("/api", "/", "", "yarp")]
    [InlineData("/api/", "/", "", "auto")]
    [InlineData("/api/", "/", "", "yarp")]
    // The remainder keeps a trailing slash, the prefix matches in any case (as the route does), an empty remainder with a
    // query gets "/", and percent-encoded characters go upstream as they came (the echo shows them decoded).
    [InlineData("/api/orders/", "/orders/", "", "auto")]
    [InlineData("/api/orders/", "/orders/", "", "yarp")]
    [InlineData("/API/orders", "/orders", "", "auto")]
    [InlineData("/API/orders", "/orders", "", "yarp")]
    [InlineData("/api?x=1&y=%20", "/", "?x=1&y=%20", "auto")]
    [InlineData("/api?x=1&y=%20", "/", "?x=1&y=%20", "yarp")]
    [InlineData("/api/a%20b/c%C3%A9", "/a b/cé", "", "auto")]
    [InlineData("/api/a%20b/c%C3%A9", "/a b/cé", "", "yarp")]
    public async Task StripPrefix_RemovesPrefix(string path, string upstreamPath, string query, string forwarder)
    {
        var echoed = await ForwardedAsync(forwarder, path);
        Assert.Equal(upstreamPath, echoed.Path);
        Assert.Equal(query, echoed.Query);
    }

    [Theory]
    [InlineData("/v1/users", "/v2/users", "auto")]
    [InlineData("/v1/users", "/v2/users", "yarp")]
    [InlineData("/v1", "/v2", "auto")]
    [InlineData("/v1", "/v2", "yarp")]
    public async Task ReplacePrefix_SwapsPrefix(string path, string upstreamPath, string forwarder)
    {
        Assert.Equal(upstreamPath, (await ForwardedAsync(forwarder, path)).Path);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task PathTemplate_RewritesPathAndKeepsQuery(string forwarder)
    {
        var echoed = await ForwardedAsync(forwarder, "/items/42?color=red&size=m", directRoute: false);
        Assert.Equal("/catalog/items/42", echoed.Path);
        Assert.Equal("?color=red&size=m", echoed.Query);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task RequestHeaders_SetAppendRemove_SeenByUpstream(string forwarder)
    {
        var echoed = await ForwardedAsync(forwarder, "/headers", r =>
        {
            r.Headers.Add("x-set", "client");
            r.Headers.Add("x-append", "client");
            r.Headers.Add("x-remove", "client");
            r.Headers.Add("x-untouched", "client");
        });

        Assert.Equal("gateway", echoed.Header("x-set"));
        Assert.Equal("client, gateway", echoed.Header("x-append"));
        Assert.Null(echoed.Header("x-remove"));
        Assert.Equal("client", echoed.Header("x-untouched"));
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task RequestHeaders_SetWithoutClientValue_Added(string forwarder)
    {
        var echoed = await ForwardedAsync(forwarder, "/headers");
        Assert.Equal("gateway", echoed.Header("x-set"));
        Assert.Equal("gateway", echoed.Header("x-append"));
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task ResponseHeaders_SetAppendRemove_SeenByClient(string forwarder)
    {
        using var response = await _gateways[forwarder].Client.GetAsync("/headers");
        _gateways[forwarder].AssertServedBy(forwarder);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["meshgate"], response.Headers.GetValues("x-served-by"));
        Assert.Equal(["from-upstream", "gateway"], response.Headers.GetValues("x-upstream-append").SelectMany(v => v.Split(", ")));
        Assert.False(response.Headers.Contains("x-upstream-internal"));
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task ResponseHeaders_AppliedOnUpstreamErrorStatus(string forwarder)
    {
        using var response = await _gateways[forwarder].Client.GetAsync("/fail");
        _gateways[forwarder].AssertServedBy(forwarder);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(response.Headers.Contains(EchoUpstream.Marker), "the 503 should be the upstream's own");
        Assert.Equal(["meshgate"], response.Headers.GetValues("x-served-by"));
        Assert.False(response.Headers.Contains("x-upstream-internal"));
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task PreserveHost_True_UpstreamSeesClientHost(string forwarder)
    {
        var echoed = await ForwardedAsync(forwarder, "/preserve", r => r.Headers.Host = "shop.example.com");
        Assert.Equal("shop.example.com", echoed.Host);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task PreserveHost_Default_UpstreamSeesEndpointHost(string forwarder)
    {
        var echoed = await ForwardedAsync(forwarder, "/plain", r => r.Headers.Host = "shop.example.com");
        Assert.Equal(_echo.Url.Authority, echoed.Host);
        Assert.Equal("shop.example.com", echoed.Header("X-Forwarded-Host"));
    }
}
