using System.Net;
using System.Security.Cryptography.X509Certificates;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Authorization;

/// <summary>Per-route access rules through the real gateway: deny wins, allow lists refuse the rest, shadow only observes.</summary>
public sealed class AccessRuleTests : IAsyncLifetime
{
    private SwitchableUpstream _upstream = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await SwitchableUpstream.StartAsync("app");
        // The test client is 127.0.0.1, a trusted proxy, so X-Forwarded-For decides the client address.
        _gateway = await TestGateway.StartAsync($$"""
            trustedProxies: [127.0.0.1]
            authorization:
              office-only:
                allow:
                  - { sourceIps: [10.1.0.0/16] }
              no-blocked:
                deny:
                  - { sourceIps: [10.66.0.0/16] }
              readers:
                deny:
                  - { paths: [/orders/internal/**] }
                allow:
                  - { methods: [GET, HEAD] }
                  - { methods: [POST], paths: [/orders/search] }
              watching:
                mode: shadow
                allow:
                  - { sourceIps: [10.1.0.0/16] }
            routes:
              - { id: office, match: { pathPrefix: /office }, cluster: app, authorization: office-only }
              - { id: public, match: { pathPrefix: /public }, cluster: app, authorization: no-blocked }
              - { id: orders, match: { pathPrefix: /orders }, cluster: app, authorization: readers }
              - { id: shadow, match: { pathPrefix: /shadow }, cluster: app, authorization: watching }
              - { id: open, match: { pathPrefix: /open }, cluster: app }
            clusters:
              - { id: app, endpoints: ["{{_upstream.Endpoint}}"] }
            """);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private async Task<HttpStatusCode> SendAsync(HttpMethod method, string path, string client)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Add("X-Forwarded-For", client);
        using var response = await _gateway.Client.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.Forbidden)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var body = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain("allow[", body); // which rule decided stays in the log
            Assert.DoesNotContain("deny[", body);
        }
        return response.StatusCode;
    }

    [Theory]
    [InlineData("/office/x", "10.1.2.3", HttpStatusCode.OK)]
    [InlineData("/office/x", "10.2.2.3", HttpStatusCode.Forbidden)]
    [InlineData("/public/x", "10.66.9.9", HttpStatusCode.Forbidden)]
    [InlineData("/public/x", "192.0.2.1", HttpStatusCode.OK)]
    [InlineData("/open/x", "10.66.9.9", HttpStatusCode.OK)]
    public async Task SourceIps_AllowAndDeny(string path, string client, HttpStatusCode expected)
    {
        Assert.Equal(expected, await SendAsync(HttpMethod.Get, path, client));
    }

    [Theory]
    [InlineData("GET", "/orders/7", HttpStatusCode.OK)]
    [InlineData("HEAD", "/orders/7", HttpStatusCode.OK)]
    [InlineData("POST", "/orders/search", HttpStatusCode.OK)]
    [InlineData("POST", "/orders/7", HttpStatusCode.Forbidden)]      // no allow rule matches
    [InlineData("DELETE", "/orders/7", HttpStatusCode.Forbidden)]
    [InlineData("GET", "/orders/internal/report", HttpStatusCode.Forbidden)] // deny wins over the GET allow
    [InlineData("GET", "/ORDERS/INTERNAL", HttpStatusCode.Forbidden)]  // paths are case-insensitive
    public async Task MethodsAndPaths_DenyWinsAllowListRefusesTheRest(string method, string path, HttpStatusCode expected)
    {
        Assert.Equal(expected, await SendAsync(new HttpMethod(method), path, "192.0.2.1"));
    }

    [Fact]
    public async Task Refused_NeverReachesUpstream()
    {
        var before = _upstream.Served;
        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(HttpMethod.Delete, "/orders/7", "192.0.2.1"));
        Assert.Equal(before, _upstream.Served);
    }

    [Fact]
    public async Task Shadow_WouldRefuse_LetsThrough()
    {
        var before = _upstream.Served;
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Get, "/shadow/x", "10.2.2.3"));
        Assert.Equal(before + 1, _upstream.Served);
    }

    [Fact]
    public async Task PolicyChangedOnReload_AppliesToUnchangedRoute()
    {
        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(HttpMethod.Get, "/office/x", "10.2.2.3"));
        var text = await File.ReadAllTextAsync(_gateway.ConfigPath);
        var first = text.IndexOf("10.1.0.0/16", StringComparison.Ordinal); // office-only's rule, not the shadow policy's
        await File.WriteAllTextAsync(_gateway.ConfigPath, string.Concat(text.AsSpan(0, first), "10.2.0.0/16", text.AsSpan(first + "10.1.0.0/16".Length)));
        using (var reload = await _gateway.Admin.PostAsync("/admin/reload", null)) Assert.Equal(HttpStatusCode.OK, reload.StatusCode);
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Get, "/office/x", "10.2.2.3"));
        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(HttpMethod.Get, "/office/x", "10.1.2.3"));
    }
}

/// <summary>Rules on the client certificate's identity, over an mTLS listener.</summary>
public sealed class ClientCertificateRuleTests : IAsyncLifetime
{
    private readonly string _dir = TempDirectory.Create();
    private TestCertificates _ca = null!;
    private TestUpstream _upstream = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _ca = new TestCertificates(_dir, "Partner CA");
        var server = _ca.Issue("gateway.test");
        _upstream = await TestUpstream.StartAsync(app => app.Map("/{**rest}", () => "ok"));
        _gateway = await TestGateway.StartAsync($$"""
            listeners:
              - name: partners
                address: 127.0.0.1:0
                tls: { cert: {{server.CertPath}}, key: {{server.KeyPath}}, clientCertificates: allow, clientCa: {{_ca.CaPath}} }
            authorization:
              partner-a:
                allow:
                  - clientCertificate: { subjects: ["CN=partner-a"], dnsNames: [b.partners.test] }
            routes:
              - { id: partners, match: { pathPrefix: / }, cluster: app, authorization: partner-a }
            clusters:
              - { id: app, endpoints: ["{{_upstream.Endpoint}}"] }
            """, _dir);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
        _ca.Dispose();
    }

    private async Task<HttpStatusCode> StatusWith(X509Certificate2? certificate)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true; // the server's identity is not under test here
        if (certificate is not null)
        {
            handler.SslOptions.ClientCertificates = [certificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate;
        }
        using var client = new HttpClient(handler) { BaseAddress = _gateway.Url };
        using var response = await client.GetAsync("/x");
        return response.StatusCode;
    }

    [Fact]
    public async Task SubjectMatches_Allowed() => Assert.Equal(HttpStatusCode.OK, await StatusWith(_ca.Issue("partner-a", server: false).Certificate));

    [Fact]
    public async Task SanDnsNameMatches_Allowed() => Assert.Equal(HttpStatusCode.OK, await StatusWith(_ca.Issue("b.partners.test", server: false).Certificate));

    [Fact]
    public async Task OtherIdentity_Forbidden() => Assert.Equal(HttpStatusCode.Forbidden, await StatusWith(_ca.Issue("partner-c", server: false).Certificate));

    [Fact]
    public async Task NoCertificate_Forbidden() => Assert.Equal(HttpStatusCode.Forbidden, await StatusWith(null));
}
