using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Listeners;

/// <summary>mTLS at the edge: a listener requires or allows client certificates from its CA bundle.</summary>
public sealed class ClientCertificateTests : IAsyncLifetime
{
    private readonly string _dir = TempDirectory.Create();
    private TestCertificates _serverCa = null!, _clientCa = null!, _otherCa = null!;
    private (X509Certificate2 Certificate, string CertPath, string KeyPath) _server;
    private TestUpstream _upstream = null!;

    public async Task InitializeAsync()
    {
        _serverCa = new TestCertificates(_dir, "Server CA");
        _clientCa = new TestCertificates(_dir, "Client CA");
        _otherCa = new TestCertificates(_dir, "Other CA");
        _server = _serverCa.Issue("gateway.test");
        _upstream = await TestUpstream.StartAsync(app => app.Map("/{**rest}", () => "upstream"));
    }

    public async Task DisposeAsync()
    {
        await _upstream.DisposeAsync();
        _serverCa.Dispose();
        _clientCa.Dispose();
        _otherCa.Dispose();
    }

    private Task<TestGateway> StartAsync(string mode) => TestGateway.StartAsync($$"""
        listeners:
          - name: mtls
            address: 127.0.0.1:0
            tls:
              cert: {{_server.CertPath}}
              key: {{_server.KeyPath}}
              clientCertificates: {{mode}}
              clientCa: {{_clientCa.CaPath}}
        routes:
          - { id: all, match: { pathPrefix: / }, cluster: app }
        clusters:
          - { id: app, endpoints: ["{{_upstream.Endpoint}}"] }
        """, _dir);

    private HttpClient Client(Uri url, X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            certificate is not null && Proxy.Tls.CertificateTrust.ChainsTo(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()), [_serverCa.Ca], DateTimeOffset.UtcNow);
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }
        return new HttpClient(handler) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(10) };
    }

    [Theory]
    [InlineData("require")]
    [InlineData("allow")]
    public async Task ValidCertificate_Is200(string mode)
    {
        await using var gateway = await StartAsync(mode);
        using var client = Client(gateway.Url, _clientCa.Issue("client-a", server: false).Certificate);
        using var response = await client.GetAsync("/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("upstream", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Require_NoCertificate_Refused()
    {
        await using var gateway = await StartAsync("require");
        using var client = Client(gateway.Url, null);
        await AssertRefusedAsync(client);
    }

    [Fact]
    public async Task Allow_NoCertificate_Is200()
    {
        await using var gateway = await StartAsync("allow");
        using var client = Client(gateway.Url, null);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/x")).StatusCode);
    }

    [Theory]
    [InlineData("require")]
    [InlineData("allow")]
    public async Task WrongCa_Refused(string mode)
    {
        await using var gateway = await StartAsync(mode);
        using var client = Client(gateway.Url, _otherCa.Issue("intruder", server: false).Certificate);
        await AssertRefusedAsync(client);
    }

    [Theory]
    [InlineData("require")]
    [InlineData("allow")]
    public async Task Expired_Refused(string mode)
    {
        await using var gateway = await StartAsync(mode);
        using var client = Client(gateway.Url, _clientCa.Issue("expired", server: false, notAfter: DateTimeOffset.UtcNow.AddHours(-1)).Certificate);
        await AssertRefusedAsync(client);
    }

    [Fact]
    public async Task ServerOnlyCertificate_NotAcceptedAsClientIdentity()
    {
        // Right CA, but issued for server authentication only (EKU): not a client identity.
        await using var gateway = await StartAsync("require");
        using var client = Client(gateway.Url, _clientCa.Issue("server-cert", server: true).Certificate);
        await AssertRefusedAsync(client);
    }

    private static async Task AssertRefusedAsync(HttpClient client)
    {
        // TLS 1.3 reports the refusal after the handshake, on the first read: either way no response arrives.
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => client.GetAsync("/x"));
        Assert.True(failure is HttpRequestException or AuthenticationException or IOException, failure.ToString());
    }
}
