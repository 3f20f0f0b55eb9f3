using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;

namespace Meshgate.IntegrationTests.Cors;

/// <summary>Per-route CORS through the real gateway: preflights answered at the gateway, headers on actual responses.</summary>
public sealed class CorsTests : IAsyncLifetime
{
    private int _upstreamRequests;
    private TestUpstream _upstream = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await TestUpstream.StartAsync(app => app.Run(context =>
        {
            Interlocked.Increment(ref _upstreamRequests);
            context.Response.Headers["x-request-id"] = "r1";
            context.Response.Headers["x-upstream"] = "app";
            // An upstream with its own, wider CORS answer: the gateway's policy must win on CORS routes.
            context.Response.Headers["Access-Control-Allow-Origin"] = "*";
            return Task.CompletedTask;
        }));
        _gateway = await TestGateway.StartAsync($$"""
            cors:
              web:
                origins: [https://app.example.com, "https://*.partner.example"]
                methods: [GET, PUT]
                headers: [authorization, x-tenant]
                exposeHeaders: [x-request-id]
                credentials: true
                maxAge: 10m
              open:
                origins: ["*"]
            routes:
              - id: orders
                match: { path: "/orders/{**rest}", methods: [GET] }
                cluster: app
                cors: web
              - id: items
                match: { path: "/items/{**rest}" }
                cluster: app
                cors: web
              - id: public
                match: { path: "/public/{**rest}" }
                cluster: app
                cors: open
              - id: plain
                match: { path: "/plain/{**rest}", methods: [GET] }
                cluster: app
            clusters:
              - { id: app, endpoints: ["{{_upstream.Endpoint}}"] }
            """);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private async Task<HttpResponseMessage> Preflight(string path, string origin, string method = "PUT", string? headers = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        if (headers is not null) request.Headers.Add("Access-Control-Request-Headers", headers);
        return await _gateway.Client.SendAsync(request);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values) : null;

    [Fact]
    public async Task Preflight_OnGetOnlyRoute_IsAnsweredAtTheGateway()
    {
        using var response = await Preflight("/orders/7", "https://app.example.com", "GET", "authorization, x-tenant");

        Assert.Equal(204, (int)response.StatusCode);
        Assert.Equal("https://app.example.com", Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal("true", Header(response, "Access-Control-Allow-Credentials"));
        Assert.Contains("GET", Header(response, "Access-Control-Allow-Methods"), StringComparison.Ordinal);
        Assert.Contains("x-tenant", Header(response, "Access-Control-Allow-Headers"), StringComparison.OrdinalIgnoreCase);
        Assert.Equal("600", Header(response, "Access-Control-Max-Age"));
        Assert.Equal(0, _upstreamRequests);
    }

    [Fact]
    public async Task Preflight_WildcardSubdomain_IsAllowed_ButNotTheBareDomain()
    {
        using var sub = await Preflight("/orders/7", "https://eu.shop.partner.example", "GET");
        using var bare = await Preflight("/orders/7", "https://partner.example", "GET");
        using var lookalike = await Preflight("/orders/7", "https://evilpartner.example", "GET");

        Assert.Equal("https://eu.shop.partner.example", Header(sub, "Access-Control-Allow-Origin"));
        Assert.Null(Header(bare, "Access-Control-Allow-Origin"));
        Assert.Null(Header(lookalike, "Access-Control-Allow-Origin"));
        Assert.Equal(0, _upstreamRequests);
    }

    [Fact]
    public async Task Preflight_DisallowedOrigin_Gets204WithoutAllowHeaders()
    {
        using var response = await Preflight("/orders/7", "https://evil.example", "GET");

        Assert.Equal(204, (int)response.StatusCode);
        Assert.Null(Header(response, "Access-Control-Allow-Origin"));
        Assert.Null(Header(response, "Access-Control-Allow-Methods"));
        Assert.Null(Header(response, "Access-Control-Allow-Credentials"));
        Assert.Equal(0, _upstreamRequests);
    }

    // As ASP.NET Core's CORS does: the answer lists what the policy allows, and the browser refuses the rest.
    [Fact]
    public async Task Preflight_DisallowedMethodOrHeader_IsNotListedAsAllowed()
    {
        using var method = await Preflight("/items/7", "https://app.example.com", "DELETE");
        using var header = await Preflight("/items/7", "https://app.example.com", "GET", "x-secret");

        Assert.Equal(204, (int)method.StatusCode);
        Assert.DoesNotContain("DELETE", Header(method, "Access-Control-Allow-Methods") ?? "", StringComparison.Ordinal);
        Assert.DoesNotContain("x-secret", Header(header, "Access-Control-Allow-Headers") ?? "", StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, _upstreamRequests);
    }

    // The route takes only GET: a preflight for PUT matches no route, as the PUT itself would not.
    [Fact]
    public async Task Preflight_ForMethodTheRouteDoesNotTake_Is404()
    {
        using var response = await Preflight("/orders/7", "https://app.example.com", "PUT");

        Assert.Equal(404, (int)response.StatusCode);
        Assert.Null(Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal(0, _upstreamRequests);
    }

    [Fact]
    public async Task ActualRequest_AllowedOrigin_GetsCorsHeaders_AndReachesUpstream()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/orders/7");
        request.Headers.Add("Origin", "https://app.example.com");
        using var response = await _gateway.Client.SendAsync(request);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("app", Header(response, "x-upstream"));
        Assert.Equal("https://app.example.com", Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal("true", Header(response, "Access-Control-Allow-Credentials"));
        Assert.Equal("x-request-id", Header(response, "Access-Control-Expose-Headers"));
        Assert.Contains("Origin", Header(response, "Vary") ?? "", StringComparison.Ordinal);
        Assert.Equal(1, _upstreamRequests);
    }

    [Fact]
    public async Task ActualRequest_DisallowedOrigin_IsForwardedWithoutCorsHeaders()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/orders/7");
        request.Headers.Add("Origin", "https://evil.example");
        using var response = await _gateway.Client.SendAsync(request);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("app", Header(response, "x-upstream"));
        Assert.Null(Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal(1, _upstreamRequests);
    }

    [Fact]
    public async Task AnyOrigin_WithoutCredentials_AnswersStar()
    {
        using var preflight = await Preflight("/public/x", "https://anyone.example", "POST");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/public/x");
        request.Headers.Add("Origin", "https://anyone.example");
        using var actual = await _gateway.Client.SendAsync(request);

        Assert.Equal(204, (int)preflight.StatusCode);
        Assert.Equal("*", Header(preflight, "Access-Control-Allow-Origin"));
        Assert.Null(Header(preflight, "Access-Control-Allow-Credentials"));
        Assert.Equal("*", Header(actual, "Access-Control-Allow-Origin"));
        Assert.Equal(1, _upstreamRequests);
    }

    [Fact]
    public async Task RouteWithoutCors_UpstreamCorsHeaders_PassThrough()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/plain/x");
        request.Headers.Add("Origin", "https://evil.example");
        using var response = await _gateway.Client.SendAsync(request);

        Assert.Equal("*", Header(response, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task RouteWithoutCors_Preflight_IsNotAnsweredAsCors()
    {
        using var response = await Preflight("/plain/x", "https://app.example.com", "GET");

        Assert.Equal(405, (int)response.StatusCode);
        Assert.Null(Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal(0, _upstreamRequests);
    }
}
