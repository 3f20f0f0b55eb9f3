using System.Net;
using System.Security.Cryptography.X509Certificates;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Authentication;

/// <summary>The client-certificate provider: the verified certificate's identity becomes the consumer, for identity headers and rules.</summary>
public sealed class ClientCertificateAuthenticationTests : IAsyncLifetime
{
    private readonly string _dir = TempDirectory.Create();
    private TestCertificates _ca = null!;
    private TestUpstream _echo = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _ca = new TestCertificates(_dir, "Partner CA");
        var server = _ca.Issue("gateway.test");
        _echo = await EchoUpstream.StartAsync();
        _gateway = await TestGateway.StartAsync($$"""
            listeners:
              - name: partners
                address: 127.0.0.1:0
                tls: { cert: {{server.CertPath}}, key: {{server.KeyPath}}, clientCertificates: allow, clientCa: {{_ca.CaPath}} }
            authentication:
              partner-certs:
                clientCertificate: {}
                identityHeaders: { consumer: x-consumer, subject: x-subject }
              by-dns:
                clientCertificate: { consumer: dns-name }
                identityHeaders: { consumer: x-consumer }
            authorization:
              partner-a-only:
                allow:
                  - { consumers: [partner-a] }
            routes:
              - { id: partners, match: { pathPrefix: /partners }, cluster: echo, auth: [partner-certs] }
              - { id: a-only, match: { pathPrefix: /a-only }, cluster: echo, auth: [partner-certs], authorization: partner-a-only }
              - { id: dns, match: { pathPrefix: /dns }, cluster: echo, auth: [by-dns] }
            clusters:
              - { id: echo, endpoints: ["{{_echo.Endpoint}}"] }
            """, _dir);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _echo.DisposeAsync();
        _ca.Dispose();
    }

    private HttpClient Client(X509Certificate2? certificate)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true; // the gateway's own identity is not under test
        if (certificate is not null)
        {
            handler.SslOptions.ClientCertificates = [certificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate;
        }
        return new HttpClient(handler) { BaseAddress = _gateway.Url };
    }

    [Fact]
    public async Task Certificate_ConsumerAndSubjectReachUpstream_ForgedCopiesDropped()
    {
        using var client = Client(_ca.Issue("partner-a", server: false).Certificate);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/partners/x");
        request.Headers.Add("x-consumer", "admin");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var echoed = await EchoedRequest.ReadAsync(response);
        Assert.Equal("partner-a", echoed.Header("x-consumer"));
        Assert.Equal("CN=partner-a", echoed.Header("x-subject"));
    }

    [Fact]
    public async Task NoCertificate_401WithChallenge()
    {
        using var client = Client(null);
        using var response = await client.GetAsync("/partners/x");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("ClientCertificate", response.Headers.WwwAuthenticate.ToString());
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Consumer_UsedByAccessRules()
    {
        using var a = Client(_ca.Issue("partner-a", server: false).Certificate);
        using var b = Client(_ca.Issue("partner-b", server: false).Certificate);
        Assert.Equal(HttpStatusCode.OK, (await a.GetAsync("/a-only/x")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await b.GetAsync("/a-only/x")).StatusCode);
    }

    [Fact]
    public async Task DnsNameIdentity_FromSan()
    {
        using var client = Client(_ca.Issue("svc.partners.test", server: false).Certificate);
        using var response = await client.GetAsync("/dns/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("svc.partners.test", (await EchoedRequest.ReadAsync(response)).Header("x-consumer"));
    }
}
