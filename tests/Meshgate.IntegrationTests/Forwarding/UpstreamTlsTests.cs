using System.Collections.Concurrent;
using System.Net;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Meshgate.TestKit.Mesh;

namespace Meshgate.IntegrationTests.Forwarding;

/// <summary>
/// TLS toward upstreams served by their own test CA: a private CA bundle, the system store,
/// a client certificate for mTLS, and SNI. Each upstream echoes what it saw of the handshake.
/// Every test runs on both forwarders: one gateway with <c>forwarder: direct</c> (the direct HTTP/1.1 path over TLS) and one
/// with <c>forwarder: yarp</c> on every cluster (and a third on <c>auto</c>, which leaves TLS to YARP); both must accept and refuse the same certificates the same way.
/// </summary>
public sealed class UpstreamTlsTests : IAsyncLifetime
{
    private const string SniName = "some.name";

    private readonly string _directory = TempDirectory.Create();
    private readonly ConcurrentQueue<string?> _sniSelectorNames = new();
    private TestCertificates _upstreamCa = null!, _clientCa = null!, _otherCa = null!;
    private string _clientCertPath = null!, _clientKeyPath = null!;
    private TestUpstream _tls = null!, _mtls = null!, _sni = null!, _expired = null!;
    private readonly Dictionary<string, TestGateway> _gateways = [];
    private readonly Dictionary<string, LogCapture> _logs = [];

    public async Task InitializeAsync()
    {
        _upstreamCa = new TestCertificates(_directory, "Upstream CA");
        _clientCa = new TestCertificates(_directory, "Gateway Client CA");
        _otherCa = new TestCertificates(_directory, "Unrelated CA");
        var (serverCertificate, _, _) = _upstreamCa.Issue("upstream.test");
        var (sniCertificate, _, _) = _upstreamCa.Issue(SniName, loopback: false);
        var (expiredCertificate, _, _) = _upstreamCa.Issue("expired.test", notAfter: DateTimeOffset.UtcNow.AddHours(-1));
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

        _expired = await StartUpstreamAsync(new HttpsConnectionAdapterOptions { ServerCertificate = expiredCertificate });

        foreach (var forwarder in new[] { "direct", "yarp", "auto" })
        {
            // A directory each: the gateway watches its config file there.
            var gateway = await TestGateway.StartAsync(Config.Replace("    endpoints:", $"    forwarder: {forwarder}\n    endpoints:"), Directory.CreateDirectory(Path.Combine(_directory, forwarder)).FullName);
            var logs = new LogCapture();
            gateway.Host.Gateway.Services.GetRequiredService<ILoggerFactory>().AddProvider(logs);
            _gateways[forwarder] = gateway;
            _logs[forwarder] = logs;
        }
    }

    private string Config => $$"""
            routes:
              - { id: ca, match: { pathPrefix: /ca }, cluster: private-ca }
              - { id: system, match: { pathPrefix: /system }, cluster: system-trust }
              - { id: other-ca, match: { pathPrefix: /other-ca }, cluster: other-ca }
              - { id: insecure, match: { pathPrefix: /insecure }, cluster: insecure }
              - { id: mtls, match: { pathPrefix: /mtls }, cluster: mtls }
              - { id: mtls-no-cert, match: { pathPrefix: /no-client-cert }, cluster: mtls-no-cert }
              - { id: sni, match: { pathPrefix: /sni }, cluster: sni }
              - { id: sni-wrong, match: { pathPrefix: /wrong-sni }, cluster: sni-wrong }
              - { id: expired, match: { pathPrefix: /expired }, cluster: expired }
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
              - id: expired
                endpoints: ["{{_expired.Endpoint}}"]
                tls: { ca: "{{_upstreamCa.CaPath}}" }
            """;

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways.Values) await gateway.DisposeAsync();
        await _tls.DisposeAsync();
        await _expired.DisposeAsync();
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

    /// <summary>The refusal's log line, the same event on both paths (the shared TLS policy writes it).</summary>
    private void AssertRefusalLogged(string forwarder, string cluster, string reason) =>
        Assert.Contains(_logs[forwarder].Lines, line => line.Contains($" 4250 Upstream ") && line.Contains($"of cluster {cluster} refused") && line.Contains(reason));

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task PrivateCa_UpstreamCertFromThatCa_Is200_OverHttp11OnTheDirectPath(string forwarder)
    {
        var gateway = _gateways[forwarder];
        var opened = gateway.DirectConnectionsOpened();
        for (var i = 0; i < 3; i++)
        {
            using var response = await gateway.Client.GetAsync("/ca/x");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            // The direct path speaks HTTP/1.1 (ALPN http/1.1 only); YARP's client takes h2 when the upstream offers it.
            Assert.Equal(forwarder == "yarp" ? "tls HTTP/2 /ca/x" : "tls HTTP/1.1 /ca/x", await response.Content.ReadAsStringAsync());
        }
        gateway.AssertServedBy(forwarder);
        // One handshake, then the pooled connection (the requests run one after another).
        if (forwarder == "direct") Assert.Equal(opened + 1, gateway.DirectConnectionsOpened());
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task SystemTrust_UpstreamCertFromPrivateCa_Is502ProblemJson(string forwarder)
    {
        using var response = await _gateways[forwarder].Client.GetAsync("/system/x");
        await AssertBadGatewayAsync(response);
        Assert.Contains("TLS certificate was refused", await response.Content.ReadAsStringAsync());
        AssertRefusalLogged(forwarder, "system-trust", "RemoteCertificateChainErrors (system trust store)");
        _gateways[forwarder].AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task PrivateCa_UpstreamCertFromAnotherCa_Is502(string forwarder)
    {
        using var response = await _gateways[forwarder].Client.GetAsync("/other-ca/x");
        await AssertBadGatewayAsync(response);
        Assert.Contains("TLS certificate was refused", await response.Content.ReadAsStringAsync());
        AssertRefusalLogged(forwarder, "other-ca", "does not chain to tls.ca or is expired");
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task PrivateCa_ExpiredUpstreamCert_Is502(string forwarder)
    {
        using var response = await _gateways[forwarder].Client.GetAsync("/expired/x");
        await AssertBadGatewayAsync(response);
        AssertRefusalLogged(forwarder, "expired", "(CN=expired.test) does not chain to tls.ca or is expired");
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task InsecureSkipVerify_UntrustedUpstreamCert_Is200(string forwarder)
    {
        using var response = await _gateways[forwarder].Client.GetAsync("/insecure/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        _gateways[forwarder].AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task ClientCertificate_UpstreamRequiresOne_Is200AndUpstreamSeesSubject(string forwarder)
    {
        using var response = await _gateways[forwarder].Client.GetAsync("/mtls/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("CN=meshgate-gateway", Header(response, "x-client-subject"));
        _gateways[forwarder].AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task ClientCertificate_NoneConfigured_UpstreamRefusesAnd502(string forwarder)
    {
        using var response = await _gateways[forwarder].Client.GetAsync("/no-client-cert/x");
        await AssertBadGatewayAsync(response);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task Sni_MatchesUpstreamCert_Is200AndUpstreamSawTheName(string forwarder)
    {
        using var response = await _gateways[forwarder].Client.GetAsync("/sni/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(SniName, Header(response, "x-sni"));
        Assert.Contains(SniName, _sniSelectorNames);
        // The description promises the SNI name is also the Host header.
        Assert.Equal(SniName, Header(response, "x-host"));
        _gateways[forwarder].AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task Sni_DoesNotMatchUpstreamCert_Is502(string forwarder)
    {
        using var response = await _gateways[forwarder].Client.GetAsync("/wrong-sni/x");
        await AssertBadGatewayAsync(response);
        Assert.Contains("other.name", _sniSelectorNames);
        AssertRefusalLogged(forwarder, "sni-wrong", "not for the host name");
    }

    [Theory]
    [InlineData("auto", "/ca/x", "yarp: cluster uses TLS under forwarder: auto (")]
    [InlineData("auto", "/mtls/x", "yarp: cluster uses TLS under forwarder: auto (")]
    [InlineData("direct", "/ca/x", "direct: HTTP/1.1 upstream path (")]
    [InlineData("direct", "/mtls/x", "direct: HTTP/1.1 upstream path (")]
    [InlineData("direct", "/sni/x", "direct: HTTP/1.1 upstream path (")]
    public async Task Explain_TlsCluster_YarpOnAutoDirectWhenAskedFor(string gateway, string path, string forwarder)
    {
        using var explain = System.Text.Json.JsonDocument.Parse(await _gateways[gateway].Admin.GetStringAsync("/admin/explain?path=" + path));
        Assert.StartsWith(forwarder, explain.RootElement.GetProperty("policies").GetProperty("forwarder").GetString());
    }

    [Fact]
    public async Task TlsClusterOnAuto_ServedByYarpOverHttp2()
    {
        using var response = await _gateways["auto"].Client.GetAsync("/ca/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("tls HTTP/2 /ca/x", await response.Content.ReadAsStringAsync());
        _gateways["auto"].AssertServedBy("yarp");
    }
}
