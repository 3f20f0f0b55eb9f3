using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Admin;

public sealed class AdminApiTests : IAsyncLifetime
{
    private const string Token = "s3cret-admin-token-0123456789";
    private TestUpstream _upstream = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await TestUpstream.NamedAsync("u");
        _gateway = await TestGateway.StartAsync($$"""
            admin:
              address: 127.0.0.1:0
              token: {{Token}}
            routes:
              - id: orders
                match: { path: "/orders/{id}", methods: [GET], headers: [{ name: x-tenant, exact: [blue] }] }
                cluster: orders
              - id: fallback
                order: 5
                match: { pathPrefix: / }
                cluster: orders
            clusters:
              - id: orders
                endpoints: ["{{_upstream.Endpoint}}", { url: "http://127.0.0.1:9", weight: 0 }]
                loadBalancing: least-requests
            """);
        _gateway.Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Fact]
    public async Task Health_NeedsNoToken()
    {
        using var anonymous = new HttpClient { BaseAddress = _gateway.Host.AdminUrl };
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/admin/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/admin/health/ready")).StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer wrong-token")]
    [InlineData("Basic czNjcmV0")]
    public async Task Config_WithoutRightToken_401ProblemJson(string? authorization)
    {
        using var client = new HttpClient { BaseAddress = _gateway.Host.AdminUrl };
        if (authorization is not null) client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", authorization);
        using var response = await client.GetAsync("/admin/config");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString());
        Assert.DoesNotContain(Token, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Config_RedactsToken()
    {
        var body = await _gateway.Admin.GetStringAsync("/admin/config");
        Assert.DoesNotContain(Token, body);
        var admin = JsonDocument.Parse(body).RootElement.GetProperty("admin");
        Assert.Equal("[redacted]", admin.GetProperty("token").GetString());
        Assert.Equal("least-requests", JsonDocument.Parse(body).RootElement.GetProperty("clusters")[0].GetProperty("loadBalancing").GetString());
    }

    [Fact]
    public async Task RoutesAndClusters_DescribeConfigAndState()
    {
        var routes = JsonDocument.Parse(await _gateway.Admin.GetStringAsync("/admin/routes")).RootElement;
        Assert.Equal(["orders", "fallback"], routes.EnumerateArray().Select(r => r.GetProperty("id").GetString()));

        var clusters = JsonDocument.Parse(await _gateway.Admin.GetStringAsync("/admin/clusters")).RootElement;
        var endpoints = clusters[0].GetProperty("endpoints").EnumerateArray().ToList();
        Assert.Equal(2, endpoints.Count);
        Assert.Equal(0, endpoints.Single(e => e.GetProperty("address").GetString() == "http://127.0.0.1:9").GetProperty("weight").GetInt32());
        Assert.All(endpoints, e => Assert.Equal(0, e.GetProperty("activeRequests").GetInt32()));
    }

    [Fact]
    public async Task Explain_SaysWhichRouteAndWhyNotOthers()
    {
        var hit = JsonDocument.Parse(await _gateway.Admin.GetStringAsync("/admin/explain?method=GET&path=/orders/7&header=x-tenant:blue")).RootElement;
        Assert.Equal("orders", hit.GetProperty("route").GetString());
        Assert.Equal("orders", hit.GetProperty("cluster").GetString());
        Assert.Equal(2, hit.GetProperty("endpoints").GetArrayLength());
        Assert.Contains("also matches", hit.GetProperty("routes")[1].GetProperty("reasons")[0].GetString());

        var miss = JsonDocument.Parse(await _gateway.Admin.GetStringAsync("/admin/explain?method=GET&path=/orders/7&header=x-tenant:red")).RootElement;
        Assert.Equal("fallback", miss.GetProperty("route").GetString());
        var why = miss.GetProperty("routes")[0];
        Assert.Equal("orders", why.GetProperty("id").GetString());
        Assert.False(why.GetProperty("matches").GetBoolean());
        Assert.Contains("header x-tenant is 'red', not one of blue", why.GetProperty("reasons")[0].GetString());
    }

    [Theory]
    [InlineData("/admin/explain", "Give at least path")]
    [InlineData("/admin/explain?path=orders", "must start with '/'")]
    [InlineData("/admin/explain?path=/x&header=novalue", "name:value")]
    public async Task Explain_BadInput_400(string url, string message)
    {
        using var response = await _gateway.Admin.GetAsync(url);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(message, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task UnknownAdminPath_404ListsEndpoints()
    {
        using var response = await _gateway.Admin.GetAsync("/admin/nope");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("/admin/explain", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ConfigStatus_ReportsVersion()
    {
        var status = JsonDocument.Parse(await _gateway.Admin.GetStringAsync("/admin/config/status")).RootElement;
        Assert.Equal(12, status.GetProperty("version").GetString()!.Length);
        Assert.Equal(1, status.GetProperty("generation").GetInt32());
        Assert.True(status.GetProperty("lastAttemptSucceeded").GetBoolean());
    }
}
