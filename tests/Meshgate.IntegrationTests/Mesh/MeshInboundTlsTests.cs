using System.Net;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Mesh.Identity;
using Meshgate.TestKit;
using Meshgate.TestKit.Mesh;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>
/// A gateway that is the "orders" workload of a mesh: its own certificate from a real control plane's CA (the mesh
/// section), a meshTls listener, and an app behind it that echoes the x-forwarded-client-cert it receives.
/// </summary>
public sealed class MeshInboundTlsTests : IAsyncLifetime
{
    private const string Xfcc = "x-forwarded-client-cert";
    private TestMesh _mesh = null!;
    private TestUpstream _app = null!;

    public async Task InitializeAsync()
    {
        _mesh = await TestMesh.StartAsync();
        _app = await TestUpstream.StartAsync(app => app.Map("/{**rest}", (HttpContext context) => $"xfcc=[{context.Request.Headers[Xfcc]}]"));
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        await _mesh.DisposeAsync();
    }

    private Task<TestGateway> GatewayAsync(string mode, TimeProvider? time = null) => TestGateway.StartAsync($$"""
        {{_mesh.MeshYaml("orders")}}
        listeners:
          - name: inbound
            address: 127.0.0.1:0
            meshTls: {{mode}}
        authorization:
          orders-api:
            allow:
              - { methods: [GET] }
              - { methods: [POST], paths: [/orders], clientCertificate: { uris: ["{{_mesh.SpiffeIdOf("frontend")}}"] } }
        routes:
          - { id: app, match: { pathPrefix: / }, cluster: app, authorization: orders-api }
        clusters:
          - { id: app, endpoints: ["{{_app.Endpoint}}"] }
        """, time: time);

    [Fact]
    public async Task PlaintextListenerBeside_ForgedXfcc_RemovedByTheFrontEndToo()
    {
        // In a process with a meshTls listener, the pipeline's caller-identity step removes a client's header on every
        // listener; the direct front end, which serves the plaintext one, must as well.
        await using var gateway = await TestGateway.StartAsync($$"""
            {{_mesh.MeshYaml("orders")}}
            listeners:
              - name: web
                address: 127.0.0.1:0
              - name: inbound
                address: 127.0.0.1:0
                meshTls: strict
            routes:
              - { id: app, match: { pathPrefix: / }, cluster: app }
            clusters:
              - { id: app, endpoints: ["{{_app.Endpoint}}"] }
            """);
        using var plain = new HttpClient();
        var (status, body) = await SendAsync(plain, new Uri(gateway.Url, "/orders"), forgedXfcc: $"By=x;URI={_mesh.SpiffeIdOf("payments")}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("xfcc=[]", body);
        Assert.Equal(1, gateway.Host.Gateway.Services.GetRequiredService<Meshgate.Proxy.FrontEnd.DirectFrontEnd>().Served);
    }

    private static async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpClient client, Uri url, HttpMethod? method = null, string? forgedXfcc = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, url);
        if (forgedXfcc is not null) request.Headers.TryAddWithoutValidation(Xfcc, forgedXfcc);
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static Uri Plain(Uri url) => new($"http://127.0.0.1:{url.Port}/orders");

    [Fact]
    public async Task Strict_MeshCaller_IsServedWithItsSpiffeIdInXfcc_AndAForgedHeaderNeverPasses()
    {
        await using var gateway = await GatewayAsync("strict");
        var frontend = await _mesh.IssueIdentityAsync("frontend");
        string? serverSerial = null;
        using var client = TestMesh.Client(frontend, serverSerial: s => serverSerial = s);

        var (status, body) = await SendAsync(client, new Uri(gateway.Url, "/orders"), forgedXfcc: $"By=x;URI={_mesh.SpiffeIdOf("payments")}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal($"xfcc=[By={_mesh.SpiffeIdOf("orders")};URI={_mesh.SpiffeIdOf("frontend")}]", body);
        // The gateway presented its own workload certificate, got from the CA at start.
        var own = gateway.Host.Gateway.Services.GetRequiredService<WorkloadIdentity>();
        Assert.Equal(own.Certificate.SerialNumber, serverSerial);
        Assert.Equal(_mesh.SpiffeIdOf("orders"), Proxy.Mesh.MeshPeerValidation.SpiffeIdOf(own.Certificate));
    }

    [Fact]
    public async Task Strict_RefusesPlaintext_AnotherCa_NoCertificate_AndNoSpiffeId()
    {
        await using var gateway = await GatewayAsync("strict");
        var bundle = (await _mesh.IssueIdentityAsync("frontend")).TrustBundle;

        using (var plain = new HttpClient())
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync(Plain(gateway.Url)));
        }

        await using var otherMesh = await TestMesh.StartAsync(); // same trust domain, another root
        var stranger = await otherMesh.IssueIdentityAsync("frontend");
        using (var client = TestMesh.Client(stranger, trust: bundle))
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(new Uri(gateway.Url, "/orders")));
        }

        using (var anonymous = TestMesh.Client(null, trust: bundle))
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => anonymous.GetAsync(new Uri(gateway.Url, "/orders")));
        }

        foreach (var certificate in new[] { _mesh.IssueFromRoot("frontend"), _mesh.IssueFromRoot("frontend", "spiffe://other.domain/ns/default/sa/frontend"), _mesh.IssueFromRoot("frontend", "https://frontend.test/") })
        {
            using var client = TestMesh.Client(new StaticWorkloadIdentity(certificate, [], bundle, "spiffe://mesh.test/ns/default/sa/frontend"), trust: bundle);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(new Uri(gateway.Url, "/orders")));
        }

        // The same root with a SPIFFE id of this trust domain is accepted: what was refused above was the missing or foreign id.
        var good = _mesh.IssueFromRoot("frontend", _mesh.SpiffeIdOf("frontend"));
        using var accepted = TestMesh.Client(new StaticWorkloadIdentity(good, [], bundle, _mesh.SpiffeIdOf("frontend")), trust: bundle);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(accepted, new Uri(gateway.Url, "/orders"))).Status);
    }

    [Fact]
    public async Task Permissive_AcceptsMtlsAndPlaintextOnOnePort_AndCountsEach()
    {
        await using var gateway = await GatewayAsync("permissive");
        var frontend = await _mesh.IssueIdentityAsync("frontend");

        using var plain = new HttpClient();
        var (plainStatus, plainBody) = await SendAsync(plain, Plain(gateway.Url), forgedXfcc: $"By=x;URI={_mesh.SpiffeIdOf("frontend")}");
        Assert.Equal(HttpStatusCode.OK, plainStatus);
        Assert.Equal("xfcc=[]", plainBody); // a plaintext caller has no identity, and its forged one is removed
        // Plaintext HTTP/2 with prior knowledge (h2c, as gRPC clients speak) is told from HTTP/1.1 by its preface.
        using (var h2c = await plain.SendAsync(new HttpRequestMessage(HttpMethod.Get, Plain(gateway.Url)) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact }))
        {
            Assert.Equal(HttpStatusCode.OK, h2c.StatusCode);
            Assert.Equal(HttpVersion.Version20, h2c.Version);
            Assert.Equal("xfcc=[]", await h2c.Content.ReadAsStringAsync());
        }

        using var mtls = TestMesh.Client(frontend, keepAlive: false);
        for (var i = 0; i < 2; i++)
        {
            var (status, body) = await SendAsync(mtls, new Uri(gateway.Url, "/orders"));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal($"xfcc=[By={_mesh.SpiffeIdOf("orders")};URI={_mesh.SpiffeIdOf("frontend")}]", body);
        }

        // TLS from another CA is still refused on a permissive listener.
        await using var otherMesh = await TestMesh.StartAsync();
        using (var stranger = TestMesh.Client(await otherMesh.IssueIdentityAsync("frontend"), trust: frontend.TrustBundle))
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => stranger.GetAsync(new Uri(gateway.Url, "/orders")));
        }

        PrometheusScrape scrape = null!;
        await Eventually.HoldsAsync(async () =>
        {
            scrape = await PrometheusScrape.GetAsync(gateway.Admin);
            return scrape.Sum("meshgate_mesh_inbound_connections_total", ("mode", "mtls")) >= 2;
        }, TimeSpan.FromSeconds(10), "two mTLS connections are counted");
        Assert.Equal(2, scrape.Sum("meshgate_mesh_inbound_connections_total", ("mode", "mtls"), ("listener", "inbound")));
        Assert.Equal(2, scrape.Sum("meshgate_mesh_inbound_connections_total", ("mode", "plaintext"), ("listener", "inbound")));
    }

    [Fact]
    public async Task Authorization_OnlyFrontendMayPostOrders()
    {
        await using var gateway = await GatewayAsync("strict");
        using var frontend = TestMesh.Client(await _mesh.IssueIdentityAsync("frontend"));
        using var payments = TestMesh.Client(await _mesh.IssueIdentityAsync("payments"));
        var orders = new Uri(gateway.Url, "/orders");

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(frontend, orders, HttpMethod.Post)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(payments, orders, HttpMethod.Post)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(payments, orders, HttpMethod.Get)).Status);
        // A forged header does not make payments frontend: the rule reads the verified certificate.
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(payments, orders, HttpMethod.Post, forgedXfcc: $"By=x;URI={_mesh.SpiffeIdOf("frontend")}")).Status);
    }

    [Fact]
    public async Task Startup_WithABadToken_FailsWithTheCasReason()
    {
        var directory = TempDirectory.Create();
        var token = Path.Combine(directory, "bad.token");
        await File.WriteAllTextAsync(token, "not-a-token-the-ca-knows\n");
        var error = await Assert.ThrowsAsync<WorkloadIdentityUnavailableException>(() => TestGateway.StartAsync($"""
            mesh:
              controlPlane: {_mesh.ControlPlaneUrl}
              service: orders
              tokenFile: {token}
            listeners:
              - name: inbound
                address: 127.0.0.1:0
                meshTls: strict
            """, directory));
        Assert.Contains("the control plane's CA refused: the bootstrap token is not valid", error.Message);
    }

    [Fact]
    public async Task Startup_WaitsForTheFirstCertificate_NotReadyMeanwhile()
    {
        await _mesh.StopControlPlaneAsync();
        var directory = TempDirectory.Create();
        var path = Path.Combine(directory, "meshgate.yaml");
        await File.WriteAllTextAsync(path, TestGateway.WithDefaults($$"""
            {{_mesh.MeshYaml("orders")}}
            listeners:
              - name: inbound
                address: 127.0.0.1:0
                meshTls: strict
            routes:
              - { id: app, match: { pathPrefix: / }, cluster: app }
            clusters:
              - { id: app, endpoints: ["{{_app.Endpoint}}"] }
            """));
        var snapshot = Meshgate.Configuration.ConfigLoader.LoadFile(path).Snapshot!;
        await using var host = Meshgate.Roles.Edge.GatewayHost.Create(snapshot, () => Meshgate.Configuration.ConfigLoader.LoadFile(path), path);
        var start = host.StartAsync();

        using var admin = new HttpClient();
        await Eventually.HoldsAsync(async () =>
        {
            if (host.Admin.Urls.FirstOrDefault() is not { } url || url.EndsWith(":0", StringComparison.Ordinal)) return false;
            try
            {
                using var ready = await admin.GetAsync(new Uri(new Uri(url), "/admin/health/ready"));
                return ready.StatusCode == HttpStatusCode.ServiceUnavailable;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(10), "the admin API is up and not ready while there is no certificate");
        Assert.False(start.IsCompleted);

        await _mesh.RestartControlPlaneAsync();
        await start.WaitAsync(TimeSpan.FromSeconds(30));
        using (var ready = await admin.GetAsync(new Uri(host.AdminUrl, "/admin/health/ready"))) Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        using var frontend = TestMesh.Client(await _mesh.IssueIdentityAsync("frontend"));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(frontend, new Uri(host.ListenerUrls[0].Url, "/orders"))).Status);
        await host.StopAsync();
    }

    [Fact]
    public async Task Renewal_NewConnectionsGetTheNewCertificate_AnOpenConnectionKeepsWorking()
    {
        var clock = new JumpClock();
        await using var gateway = await GatewayAsync("strict", clock);
        var own = gateway.Host.Gateway.Services.GetRequiredService<WorkloadIdentity>();
        var frontend = await _mesh.IssueIdentityAsync("frontend");
        var orders = new Uri(gateway.Url, "/orders");

        var handshakes = new List<string?>();
        using var kept = TestMesh.Client(frontend, keepAlive: true, serverSerial: s => { lock (handshakes) handshakes.Add(s); });
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(kept, orders)).Status);
        var first = own.Certificate.SerialNumber;
        Assert.Equal(new string?[] { first }, handshakes);

        clock.Advance(TimeSpan.FromHours(16.1));
        await Eventually.HoldsAsync(() => Task.FromResult(own.Certificate.SerialNumber != first), TimeSpan.FromSeconds(20), "the gateway renews at two thirds");

        string? fresh = null;
        using (var client = TestMesh.Client(frontend, keepAlive: false, serverSerial: s => fresh = s))
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, orders)).Status);
        }
        Assert.Equal(own.Certificate.SerialNumber, fresh);
        Assert.NotEqual(first, fresh);

        // The connection opened before the renewal is still in use, with no new handshake.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(kept, orders)).Status);
        Assert.Equal(new string?[] { first }, handshakes);
    }

    [Fact]
    public async Task Renewal_UnderConcurrentLoad_FailsNoRequest()
    {
        var clock = new JumpClock();
        await using var gateway = await GatewayAsync("strict", clock);
        var own = gateway.Host.Gateway.Services.GetRequiredService<WorkloadIdentity>();
        var frontend = await _mesh.IssueIdentityAsync("frontend");
        var orders = new Uri(gateway.Url, "/orders");
        var first = own.Certificate.SerialNumber;

        var failures = 0;
        var served = 0;
        var renewed = false;
        async Task Worker(bool keepAlive)
        {
            using var client = TestMesh.Client(frontend, keepAlive: keepAlive);
            // Bounded: until 20 requests after the renewal was seen, at most 400.
            var after = 0;
            for (var i = 0; i < 400 && after < 20; i++)
            {
                try
                {
                    if ((await SendAsync(client, orders)).Status == HttpStatusCode.OK) Interlocked.Increment(ref served);
                    else Interlocked.Increment(ref failures);
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failures);
                }
                if (Volatile.Read(ref renewed)) after++;
            }
        }

        var workers = new[] { Worker(false), Worker(false), Worker(true), Worker(true) };
        await Task.Delay(200);
        clock.Advance(TimeSpan.FromHours(16.1));
        await Eventually.HoldsAsync(() => Task.FromResult(own.Certificate.SerialNumber != first), TimeSpan.FromSeconds(20), "the gateway renews under load");
        Volatile.Write(ref renewed, true);
        await Task.WhenAll(workers);

        Assert.Equal(0, failures);
        Assert.True(served >= 80, $"served {served}");
    }
}
