using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Transforms;

/// <summary>Each route transform, as the upstream (path, headers, Host) and the client (response headers) see it.</summary>
public sealed class RouteTransformsTests : IAsyncLifetime
{
    private TestUpstream _echo = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _echo = await EchoUpstream.StartAsync(context =>
        {
            context.Response.Headers["x-upstream-internal"] = "secret";
            context.Response.Headers["x-upstream-append"] = "from-upstream";
            if (context.Request.Path.StartsWithSegments("/fail")) context.Response.StatusCode = 503;
        });
        _gateway = await TestGateway.StartAsync($$"""
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
              - { id: echo, endpoints: ["{{_echo.Endpoint}}"] }
            """);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _echo.DisposeAsync();
    }

    private async Task<EchoedRequest> ForwardedAsync(string path, Action<HttpRequestMessage>? setup = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        setup?.Invoke(request);
        using var response = await _gateway.Client.SendAsync(request);
        return await EchoedRequest.ReadAsync(response);
    }

    [Theory]
    [InlineData("/api/orders", "/orders", "")]
    [InlineData("/api/orders/7?x=1", "/orders/7", "?x=1")]
    [InlineData("/api", "/", "")]
    [InlineData("/api/", "/", "")]
    public async Task StripPrefix_RemovesPrefix(string path, string upstreamPath, string query)
    {
        var echoed = await ForwardedAsync(path);
        Assert.Equal(upstreamPath, echoed.Path);
        Assert.Equal(query, echoed.Query);
    }

    [Theory]
    [InlineData("/v1/users", "/v2/users")]
    [InlineData("/v1", "/v2")]
    public async Task ReplacePrefix_SwapsPrefix(string path, string upstreamPath)
    {
        Assert.Equal(upstreamPath, (await ForwardedAsync(path)).Path);
    }

    [Fact]
    public async Task PathTemplate_RewritesPathAndKeepsQuery()
    {
        var echoed = await ForwardedAsync("/items/42?color=red&size=m");
        Assert.Equal("/catalog/items/42", echoed.Path);
        Assert.Equal("?color=red&size=m", echoed.Query);
    }

    [Fact]
    public async Task RequestHeaders_SetAppendRemove_SeenByUpstream()
    {
        var echoed = await ForwardedAsync("/headers", r =>
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

    [Fact]
    public async Task RequestHeaders_SetWithoutClientValue_Added()
    {
        var echoed = await ForwardedAsync("/headers");
        Assert.Equal("gateway", echoed.Header("x-set"));
        Assert.Equal("gateway", echoed.Header("x-append"));
    }

    [Fact]
    public async Task ResponseHeaders_SetAppendRemove_SeenByClient()
    {
        using var response = await _gateway.Client.GetAsync("/headers");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["meshgate"], response.Headers.GetValues("x-served-by"));
        Assert.Equal(["from-upstream", "gateway"], response.Headers.GetValues("x-upstream-append").SelectMany(v => v.Split(", ")));
        Assert.False(response.Headers.Contains("x-upstream-internal"));
    }

    [Fact]
    public async Task ResponseHeaders_AppliedOnUpstreamErrorStatus()
    {
        using var response = await _gateway.Client.GetAsync("/fail");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(response.Headers.Contains(EchoUpstream.Marker), "the 503 should be the upstream's own");
        Assert.Equal(["meshgate"], response.Headers.GetValues("x-served-by"));
        Assert.False(response.Headers.Contains("x-upstream-internal"));
    }

    [Fact]
    public async Task PreserveHost_True_UpstreamSeesClientHost()
    {
        var echoed = await ForwardedAsync("/preserve", r => r.Headers.Host = "shop.example.com");
        Assert.Equal("shop.example.com", echoed.Host);
    }

    [Fact]
    public async Task PreserveHost_Default_UpstreamSeesEndpointHost()
    {
        var echoed = await ForwardedAsync("/plain", r => r.Headers.Host = "shop.example.com");
        Assert.Equal(_echo.Url.Authority, echoed.Host);
        Assert.Equal("shop.example.com", echoed.Header("X-Forwarded-Host"));
    }
}
