using System.Collections.Concurrent;
using System.Net;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Meshgate.IntegrationTests.Forwarding;

/// <summary>
/// TLS toward upstreams served by their own test CA: a private CA bundle, the system store,
/// a client certificate for mTLS, and SNI. Each upstream echoes what it saw of the handshake.
/// </summary>
public sealed class UpstreamTlsTests : IAsyncLifetime
{
    private const string SniName = "some.name";

    private readonly string _directory = TempDirectory.Create();
    private readonly ConcurrentQueue<string?> _sniSelectorNames = new();
    private TestCertificates _upstreamCa = null!, _clientCa = null!, _otherCa = null!;
    private string _clientCertPath = null!, _clientKeyPath = null!;
    private TestUpstream _tls = null!, _mtls = null!, _sni = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstreamCa = new TestCertificates(_directory, "Upstream CA");
        _clientCa = new TestCertificates(_directory, "Gateway Client CA");
        _otherCa = new TestCertificates(_directory, "Unrelated CA");
        var (serverCertificate, _, _) = _upstreamCa.Issue("upstream.test");
        var (sniCertificate, _, _) = _upstreamCa.Issue(SniName, loopback: false);
        (_, _clientCertPath, _clientKeyPath) = _clientCa.Issue("meshgate-gateway", server: false);

        _tls = await StartUpstreamAsync(new HttpsConnectionAdapterOptions { ServerCertificate = serverCertificate });
        _mtls = await StartUpstreamAsync(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = serverCertificate,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (certificate, _, _) => _clientCa.Issued(certificate),
        });
        _sni = await StartUpstreamAsync(new HttpsConnectionAdapterOptions
        {
            // The only certificate this upstream has is for some.name; the selector records what the client asked for.
            ServerCertificateSelector = (_, name) =>
            {
                _sniSelectorNames.Enqueue(name);
                return sniCertificate;
            },
        });

        _gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: ca, match: { pathPrefix: /ca }, cluster: private-ca }
              - { id: system, match: { pathPrefix: /system }, cluster: system-trust }
              - { id: other-ca, match: { pathPrefix: /other-ca }, cluster: other-ca }
              - { id: insecure, match: { pathPrefix: /insecure }, cluster: insecure }
              - { id: mtls, match: { pathPrefix: /mtls }, cluster: mtls }
              - { id: mtls-no-cert, match: { pathPrefix: /no-client-cert }, cluster: mtls-no-cert }
              - { id: sni, match: { pathPrefix: /sni }, cluster: sni }
              - { id: sni-wrong, match: { pathPrefix: /wrong-sni }, cluster: sni-wrong }
            clusters:
              - id: private-ca
                endpoints: ["{{_tls.Endpoint}}"]
                tls: { ca: "{{_upstreamCa.CaPath}}" }
              - id: system-trust
                endpoints: ["{{_tls.Endpoint}}"]
              - id: other-ca
                endpoints: ["{{_tls.Endpoint}}"]
                tls: { ca: "{{_otherCa.CaPath}}" }
              - id: insecure
                endpoints: ["{{_tls.Endpoint}}"]
                tls: { insecureSkipVerify: true }
              - id: mtls
                endpoints: ["{{_mtls.Endpoint}}"]
                tls: { ca: "{{_upstreamCa.CaPath}}", clientCert: "{{_clientCertPath}}", clientKey: "{{_clientKeyPath}}" }
              - id: mtls-no-cert
                endpoints: ["{{_mtls.Endpoint}}"]
                tls: { ca: "{{_upstreamCa.CaPath}}" }
              - id: sni
                endpoints: ["{{_sni.Endpoint}}"]
                tls: { ca: "{{_upstreamCa.CaPath}}", sni: {{SniName}} }
              - id: sni-wrong
                endpoints: ["{{_sni.Endpoint}}"]
                tls: { ca: "{{_upstreamCa.CaPath}}", sni: other.name }
            """, _directory);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _tls.DisposeAsync();
        await _mtls.DisposeAsync();
        await _sni.DisposeAsync();
        _upstreamCa.Dispose();
        _clientCa.Dispose();
        _otherCa.Dispose();
    }

    /// <summary>An HTTPS upstream that answers every request with what it saw: SNI, Host and client certificate subject.</summary>
    private static Task<TestUpstream> StartUpstreamAsync(HttpsConnectionAdapterOptions https) => TestUpstream.StartAsync(
        app => app.Run(context =>
        {
            context.Response.Headers["x-sni"] = context.Features.Get<ITlsHandshakeFeature>()?.HostName ?? "";
            context.Response.Headers["x-host"] = context.Request.Host.Value;
            context.Response.Headers["x-client-subject"] = context.Connection.ClientCertificate?.Subject ?? "";
            return context.Response.WriteAsync($"tls {context.Request.Protocol} {context.Request.Path}");
        }),
        HttpProtocols.Http1AndHttp2,
        listen: o => o.UseHttps(https));

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : $"(no {name})";

    private static async Task AssertBadGatewayAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("upstream-unavailable", Header(response, "x-meshgate-error"));
        Assert.Contains("\"status\":502", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PrivateCa_UpstreamCertFromThatCa_Is200()
    {
        using var response = await _gateway.Client.GetAsync("/ca/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // auto: the TLS upstream offers h2 by ALPN, so the gateway uses it.
        Assert.Equal("tls HTTP/2 /ca/x", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task SystemTrust_UpstreamCertFromPrivateCa_Is502ProblemJson()
    {
        using var response = await _gateway.Client.GetAsync("/system/x");
        await AssertBadGatewayAsync(response);
    }

    [Fact]
    public async Task PrivateCa_UpstreamCertFromAnotherCa_Is502()
    {
        using var response = await _gateway.Client.GetAsync("/other-ca/x");
        await AssertBadGatewayAsync(response);
    }

    [Fact]
    public async Task InsecureSkipVerify_UntrustedUpstreamCert_Is200()
    {
        using var response = await _gateway.Client.GetAsync("/insecure/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ClientCertificate_UpstreamRequiresOne_Is200AndUpstreamSeesSubject()
    {
        using var response = await _gateway.Client.GetAsync("/mtls/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("CN=meshgate-gateway", Header(response, "x-client-subject"));
    }

    [Fact]
    public async Task ClientCertificate_NoneConfigured_UpstreamRefusesAnd502()
    {
        using var response = await _gateway.Client.GetAsync("/no-client-cert/x");
        await AssertBadGatewayAsync(response);
    }

    [Fact]
    public async Task Sni_MatchesUpstreamCert_Is200AndUpstreamSawTheName()
    {
        using var response = await _gateway.Client.GetAsync("/sni/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(SniName, Header(response, "x-sni"));
        Assert.Contains(SniName, _sniSelectorNames);
        // The description promises the SNI name is also the Host header.
        Assert.Equal(SniName, Header(response, "x-host"));
    }

    [Fact]
    public async Task Sni_DoesNotMatchUpstreamCert_Is502()
    {
        using var response = await _gateway.Client.GetAsync("/wrong-sni/x");
        await AssertBadGatewayAsync(response);
        Assert.Contains("other.name", _sniSelectorNames);
    }
}
