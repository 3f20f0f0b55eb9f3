using System.Net;
using System.Text.Json;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;

namespace Meshgate.IntegrationTests.Routing;

/// <summary>match.listeners: a route takes requests from the listeners it names only, also when a request on another listener would match it.</summary>
public sealed class ListenerRouteTests : IAsyncLifetime
{
    private TestUpstream _internal = null!;
    private TestUpstream _public = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _internal = await TestUpstream.StartAsync(app => app.MapGet("/{**rest}", () => "internal"));
        _public = await TestUpstream.StartAsync(app => app.MapGet("/{**rest}", () => "public"));
        _gateway = await TestGateway.StartAsync($$"""
            listeners:
              - { name: public, address: 127.0.0.1:0 }
              - { name: internal, address: 127.0.0.1:0 }
            routes:
              # More specific than the catch-all, so without match.listeners it would win on both listeners.
              - { id: admin-tools, match: { pathPrefix: /tools, listeners: [internal] }, cluster: internal }
              - { id: only-internal, match: { path: /private, listeners: [Internal] }, cluster: internal }
              - { id: site, match: { path: "/{**rest}", listeners: [public] }, cluster: public }
            clusters:
              - { id: internal, endpoints: ["{{_internal.Endpoint}}"] }
              - { id: public, endpoints: ["{{_public.Endpoint}}"] }
            """);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _internal.DisposeAsync();
        await _public.DisposeAsync();
    }

    private async Task<(HttpStatusCode Status, string Body)> GetAsync(string listener, string path)
    {
        var url = _gateway.Host.ListenerUrls.Single(l => l.Name == listener).Url;
        using var response = await _gateway.Client.GetAsync(new Uri(url, path));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("internal", "/tools/x", HttpStatusCode.OK, "internal")]
    [InlineData("public", "/tools/x", HttpStatusCode.OK, "public")]
    [InlineData("internal", "/private", HttpStatusCode.OK, "internal")]
    [InlineData("public", "/private", HttpStatusCode.OK, "public")]
    [InlineData("public", "/anything", HttpStatusCode.OK, "public")]
    public async Task Request_TakesOnlyRoutesOfItsListener(string listener, string path, HttpStatusCode status, string body)
    {
        var (actualStatus, actualBody) = await GetAsync(listener, path);
        Assert.Equal(status, actualStatus);
        Assert.Equal(body, actualBody);
    }

    [Fact]
    public async Task RequestOnAListenerNoRouteTakes_Is404()
    {
        var (status, _) = await GetAsync("internal", "/anything");
        Assert.Equal(HttpStatusCode.NotFound, status);
    }

    [Theory]
    [InlineData("internal", "admin-tools")]
    [InlineData("Public", "site")]
    public async Task Explain_WithAListener_AnswersAsTrafficOnThatListenerIsRouted(string listener, string route)
    {
        using var explain = JsonDocument.Parse(await _gateway.Admin.GetStringAsync($"/admin/explain?path=/tools/x&listener={listener}"));
        Assert.Equal(route, explain.RootElement.GetProperty("route").GetString());
        var other = explain.RootElement.GetProperty("routes").EnumerateArray().Single(r => r.GetProperty("id").GetString() == (route == "site" ? "admin-tools" : "site"));
        Assert.Contains($"listener '{listener}' is not one of", other.GetProperty("reasons")[0].GetString());
    }

    [Fact]
    public async Task Explain_WithoutAListener_SaysWhichListenersTheRoutesNeed()
    {
        using var explain = JsonDocument.Parse(await _gateway.Admin.GetStringAsync("/admin/explain?path=/tools/x"));
        Assert.Equal(JsonValueKind.Null, explain.RootElement.GetProperty("route").ValueKind);
        var tools = explain.RootElement.GetProperty("routes").EnumerateArray().Single(r => r.GetProperty("id").GetString() == "admin-tools");
        Assert.Equal("only takes requests on listener internal: add listener=NAME to explain a request arriving there", tools.GetProperty("reasons")[0].GetString());
    }

    [Fact]
    public async Task Explain_WithAnUnknownListener_Is400NamingTheListeners()
    {
        using var response = await _gateway.Admin.GetAsync("/admin/explain?path=/tools/x&listener=intranet");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("no listener is named 'intranet'; named listeners: public, internal", await response.Content.ReadAsStringAsync());
    }
}
