using System.Net;
using System.Security.Cryptography;
using System.Text;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Authorization;

/// <summary>Authentication then authorization, in that order: rules see the consumer and claims a provider established.</summary>
public sealed class AuthenticatedRuleTests : IAsyncLifetime
{
    private const string PartnerKey = "partner-key-0123456789abcdef";
    private const string MobileKey = "mobile-key-0123456789abcdef";
    private SwitchableUpstream _upstream = null!;
    private TestGateway _gateway = null!;

    private static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public async Task InitializeAsync()
    {
        _upstream = await SwitchableUpstream.StartAsync("app");
        _gateway = await TestGateway.StartAsync($$"""
            authentication:
              keys:
                apiKeys:
                  header: x-api-key
                  consumers:
                    partner: { keys: [{{Hash(PartnerKey)}}], metadata: { tier: gold } }
                    mobile: { keys: [{{Hash(MobileKey)}}], metadata: { tier: free } }
            authorization:
              partners-write:
                allow:
                  - { methods: [GET] }
                  - { methods: [POST], consumers: [partner] }
              gold-only:
                allow:
                  - claims: { tier: { equals: gold } }
              members:
                allow:
                  - { authenticated: true }
            routes:
              - { id: orders, match: { pathPrefix: /orders }, cluster: app, auth: [keys], authorization: partners-write }
              - { id: premium, match: { pathPrefix: /premium }, cluster: app, auth: [keys], authorization: gold-only }
              - { id: mixed, match: { pathPrefix: /mixed }, cluster: app, auth: [keys], anonymous: true, authorization: members }
            clusters:
              - { id: app, endpoints: ["{{_upstream.Endpoint}}"] }
            """);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private async Task<HttpStatusCode> SendAsync(HttpMethod method, string path, string? key)
    {
        using var request = new HttpRequestMessage(method, path);
        if (key is not null) request.Headers.Add("x-api-key", key);
        using var response = await _gateway.Client.SendAsync(request);
        return response.StatusCode;
    }

    [Theory]
    [InlineData("GET", "/orders/1", PartnerKey, HttpStatusCode.OK)]
    [InlineData("GET", "/orders/1", MobileKey, HttpStatusCode.OK)]
    [InlineData("POST", "/orders", PartnerKey, HttpStatusCode.OK)]
    [InlineData("POST", "/orders", MobileKey, HttpStatusCode.Forbidden)]
    [InlineData("POST", "/orders", null, HttpStatusCode.Unauthorized)]       // authentication comes first
    [InlineData("GET", "/premium/x", PartnerKey, HttpStatusCode.OK)]         // consumer metadata is a claim
    [InlineData("GET", "/premium/x", MobileKey, HttpStatusCode.Forbidden)]
    [InlineData("GET", "/mixed/x", MobileKey, HttpStatusCode.OK)]
    [InlineData("GET", "/mixed/x", null, HttpStatusCode.Forbidden)]          // anonymous gets past authentication, not the rule
    public async Task Rules_SeeTheAuthenticatedIdentity(string method, string path, string? key, HttpStatusCode expected)
    {
        var before = _upstream.Served;
        Assert.Equal(expected, await SendAsync(new HttpMethod(method), path, key));
        Assert.Equal(expected == HttpStatusCode.OK ? before + 1 : before, _upstream.Served);
    }

    [Fact]
    public async Task Explain_NamesAuthenticationAndAuthorization()
    {
        var explain = System.Text.Json.JsonDocument.Parse(await _gateway.Admin.GetStringAsync("/admin/explain?method=POST&path=/orders")).RootElement;
        var policies = explain.GetProperty("policies");
        Assert.Equal("keys", policies.GetProperty("authentication").GetString());
        Assert.Equal("partners-write", policies.GetProperty("authorization").GetString());
    }
}
