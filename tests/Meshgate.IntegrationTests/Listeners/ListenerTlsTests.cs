using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Listeners;

/// <summary>HTTPS listeners from PEM and from PKCS#12: trusted clients get through (HTTP/2 by ALPN), others fail the handshake.</summary>
public sealed class ListenerTlsTests : IAsyncLifetime
{
    private readonly string _directory = TempDirectory.Create();
    private TestCertificates _certificates = null!;
    private string _certPath = null!, _keyPath = null!, _pfxPath = null!;
    private TestUpstream _upstream = null!;

    public async Task InitializeAsync()
    {
        _certificates = new TestCertificates(_directory, "Listener CA");
        (var certificate, _certPath, _keyPath) = _certificates.Issue("gateway.test");
        _pfxPath = Path.Combine(_directory, "gateway.pfx");
        await File.WriteAllBytesAsync(_pfxPath, certificate.Export(X509ContentType.Pkcs12, PfxPassword));
        Environment.SetEnvironmentVariable(PfxPasswordEnv, PfxPassword);
        _upstream = await TestUpstream.NamedAsync("backend");
    }

    public async Task DisposeAsync()
    {
        await _upstream.DisposeAsync();
        _certificates.Dispose();
    }

    private const string PfxPasswordEnv = "MESHGATE_TEST_LISTENER_PFX_PASSWORD";
    private const string PfxPassword = "s3cret-pfx";

    private Task<TestGateway> StartAsync(string tls, string? protocols = null) => TestGateway.StartAsync($$"""
        listeners:
          - name: secure
            address: 127.0.0.1:0
            tls: {{tls}}
            {{(protocols is null ? "" : $"protocols: {protocols}")}}
        routes:
          - { id: all, match: { path: "/{**rest}" }, cluster: backend }
        clusters:
          - { id: backend, endpoints: ["{{_upstream.Endpoint}}"] }
        """, _directory);

    private string PemTls => $"{{ cert: \"{_certPath}\", key: \"{_keyPath}\" }}";

    private string PfxTls => $"{{ pfx: \"{_pfxPath}\", pfxPasswordEnv: {PfxPasswordEnv} }}";

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, Version version)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/hello") { Version = version };
        return await client.SendAsync(request);
    }

    [Theory]
    [InlineData("pem")]
    [InlineData("pfx")]
    public async Task Https_ClientTrustingCa_Gets200OverHttp11AndHttp2ByAlpn(string kind)
    {
        await using var gateway = await StartAsync(kind == "pem" ? PemTls : PfxTls);
        Assert.Equal("https", gateway.Url.Scheme);
        using var client = _certificates.TrustingClient(gateway.Url);

        using var http11 = await GetAsync(client, HttpVersion.Version11);
        Assert.Equal(HttpStatusCode.OK, http11.StatusCode);
        Assert.Equal(HttpVersion.Version11, http11.Version);
        Assert.Equal("backend GET /hello", await http11.Content.ReadAsStringAsync());

        using var http2 = await GetAsync(client, HttpVersion.Version20);
        Assert.Equal(HttpStatusCode.OK, http2.StatusCode);
        Assert.Equal(HttpVersion.Version20, http2.Version);
        Assert.Equal("backend GET /hello", await http2.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Https_ProtocolsHttp1Only_AlpnDoesNotOfferHttp2()
    {
        await using var gateway = await StartAsync(PemTls, "[http1]");
        using var client = _certificates.TrustingClient(gateway.Url);
        using var response = await GetAsync(client, HttpVersion.Version20);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version11, response.Version);
    }

    [Theory]
    [InlineData("pem")]
    [InlineData("pfx")]
    public async Task Https_ClientNotTrustingCa_HandshakeFails(string kind)
    {
        await using var gateway = await StartAsync(kind == "pem" ? PemTls : PfxTls);
        using var client = new HttpClient { BaseAddress = gateway.Url };
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/hello"));
        Assert.IsType<AuthenticationException>(error.InnerException);
    }

    [Fact]
    public async Task Https_ClientTrustingAnotherCa_HandshakeFails()
    {
        await using var gateway = await StartAsync(PemTls);
        using var other = new TestCertificates(_directory, "Some Other CA");
        using var client = other.TrustingClient(gateway.Url);
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/hello"));
        Assert.IsType<AuthenticationException>(error.InnerException);
    }
}
