using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Routing;

/// <summary>Each match kind and priority, through the real gateway to real upstreams that say which route they got.</summary>
public sealed class RouteMatchingTests : IAsyncLifetime
{
    private TestUpstream _a = null!, _b = null!, _c = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _a = await TestUpstream.NamedAsync("a");
        _b = await TestUpstream.NamedAsync("b");
        _c = await TestUpstream.NamedAsync("c");
        _gateway = await TestGateway.StartAsync($$"""
            routes:
              - id: exact
                match: { path: /health }
                cluster: a
              - id: template
                match: { path: "/orders/{id}", methods: [GET] }
                cluster: b
              - id: prefix
                match: { pathPrefix: /api }
                cluster: a
              - id: host-wildcard
                match: { path: /hosted, hosts: ["*.example.com"] }
                cluster: b
              - id: header-exact
                match: { path: /h, headers: [{ name: x-tenant, exact: [blue] }] }
                cluster: b
              - id: header-regex
                match: { path: /h, headers: [{ name: x-tenant, regex: "^gr[e]+n$" }] }
                cluster: c
              - id: header-absent
                match: { path: /h, headers: [{ name: x-tenant, absent: true }] }
                cluster: a
              - id: header-prefix
                match: { path: /hp, headers: [{ name: x-version, prefix: [v2] }] }
                cluster: b
              - id: header-present
                match: { path: /hq, headers: [{ name: x-debug, present: true }] }
                cluster: b
              - id: query
                match: { path: /q, query: [{ name: beta, exact: ["1"] }] }
                cluster: c
              - id: low-priority-catch-all
                order: 10
                match: { path: "/{**rest}" }
                cluster: c
              - id: first-by-order
                order: -1
                match: { path: /orders/special }
                cluster: c
            clusters:
              - { id: a, endpoints: ["{{_a.Endpoint}}"] }
              - { id: b, endpoints: ["{{_b.Endpoint}}"] }
              - { id: c, endpoints: ["{{_c.Endpoint}}"] }
            """);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _c.DisposeAsync();
    }

    private async Task<string?> UpstreamFor(HttpMethod method, string path, Action<HttpRequestMessage>? setup = null)
    {
        using var request = new HttpRequestMessage(method, path);
        setup?.Invoke(request);
        using var response = await _gateway.Client.SendAsync(request);
        return response.Headers.TryGetValues("x-upstream", out var values) ? values.Single() : $"status {(int)response.StatusCode}";
    }

    [Theory]
    [InlineData("/health", "a")]
    [InlineData("/HEALTH", "a")]
    [InlineData("/health/x", "c")]       // exact does not take deeper paths: falls to the catch-all
    [InlineData("/orders/7", "b")]
    [InlineData("/orders/special", "c")] // lower order wins over the more general template
    [InlineData("/api", "a")]
    [InlineData("/api/v1/things", "a")]
    [InlineData("/apix", "c")]           // a prefix matches on segment boundaries only
    [InlineData("/q?beta=1", "c")]
    [InlineData("/anything/else", "c")]
    public async Task Path_MatchesExpectedRoute(string path, string upstream)
    {
        Assert.Equal(upstream, await UpstreamFor(HttpMethod.Get, path));
    }

    [Fact]
    public async Task Methods_OtherMethodOnTemplate_FallsThroughToCatchAll()
    {
        Assert.Equal("b", await UpstreamFor(HttpMethod.Get, "/orders/7"));
        Assert.Equal("c", await UpstreamFor(HttpMethod.Delete, "/orders/7"));
    }

    [Theory]
    [InlineData("shop.example.com", "b")]
    [InlineData("a.b.example.com", "b")]
    [InlineData("example.com", "c")]
    [InlineData("shop.example.org", "c")]
    public async Task Hosts_Wildcard(string host, string upstream)
    {
        Assert.Equal(upstream, await UpstreamFor(HttpMethod.Get, "/hosted", r => r.Headers.Host = host));
    }

    [Theory]
    [InlineData("blue", "b")]
    [InlineData("BLUE", "b")]
    [InlineData("green", "c")]
    [InlineData("greeeen", "c")]
    [InlineData(null, "a")]
    [InlineData("red", "c")] // no /h route takes it: the catch-all does
    public async Task Headers_ExactRegexAbsent(string? tenant, string upstream)
    {
        Assert.Equal(upstream, await UpstreamFor(HttpMethod.Get, "/h", r => { if (tenant is not null) r.Headers.Add("x-tenant", tenant); }));
    }

    [Fact]
    public async Task Headers_PrefixAndPresent()
    {
        Assert.Equal("b", await UpstreamFor(HttpMethod.Get, "/hp", r => r.Headers.Add("x-version", "v2.1")));
        Assert.Equal("c", await UpstreamFor(HttpMethod.Get, "/hp", r => r.Headers.Add("x-version", "v1")));
        Assert.Equal("b", await UpstreamFor(HttpMethod.Get, "/hq", r => r.Headers.TryAddWithoutValidation("x-debug", "1")));
        Assert.Equal("c", await UpstreamFor(HttpMethod.Get, "/hq"));
    }

    [Fact]
    public async Task Query_ValueMismatch_NotTaken()
    {
        var explain = await _gateway.Admin.GetStringAsync("/admin/explain?path=/q%3Fbeta%3D2");
        Assert.Contains("\"route\":\"low-priority-catch-all\"", explain);
        Assert.Contains("query parameter beta is '2', not one of 1", explain);
    }

    [Fact]
    public async Task NoRoute_Is404ProblemJson()
    {
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: only, match: { path: /only }, cluster: a }
            clusters:
              - { id: a, endpoints: ["{{_a.Endpoint}}"] }
            """);
        using var response = await gateway.Client.GetAsync("/elsewhere");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\"status\":404", await response.Content.ReadAsStringAsync());
    }
}
