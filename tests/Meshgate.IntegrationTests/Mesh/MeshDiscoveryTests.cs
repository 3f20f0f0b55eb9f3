using System.Net;
using System.Text.Json;
using Meshgate.Mesh.V1;
using Meshgate.TestKit;
using Meshgate.IntegrationTests.Forwarding;
using Meshgate.TestKit.Mesh;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>
/// The gateway as mesh ingress: a real control plane with its CA, mTLS instances registered with it, and a gateway
/// whose cluster has discovery: mesh, given a static identity issued by the same CA. The tests of what crosses the mesh
/// hop (mTLS, SPIFFE-id checks, renewal, retries, timeouts) run on both forwarders (<see cref="Forwarders.BothOverTls"/>).
/// </summary>
public sealed class MeshDiscoveryTests
{
    private const string GatewaySpiffeId = "spiffe://test.mesh/ns/default/sa/gateway";

    private static string Config(DiscoveryTestMesh mesh, string extraCluster = "", string forwarder = "auto") =>
        mesh.MeshSection() + """
            routes:
              - id: orders
                match: { pathPrefix: / }
                cluster: orders
            clusters:
              - id: orders
                discovery: mesh
                service: orders
                forwarder: FORWARDER

            """.Replace("FORWARDER", forwarder) + extraCluster;

    private static Task<TestGateway> StartGatewayAsync(DiscoveryTestMesh mesh, string? yaml = null, string forwarder = "auto") =>
        TestGateway.StartAsync(yaml ?? Config(mesh, forwarder: forwarder), identity: mesh.IssueIdentity("gateway"));

    private static async Task<(HttpStatusCode Status, string? Upstream, string Body, string? ContentType)> GetAsync(TestGateway gateway, string path = "/orders/1")
    {
        using var response = await gateway.Client.GetAsync(path);
        var upstream = response.Headers.TryGetValues("x-upstream", out var values) ? values.Single() : null;
        return (response.StatusCode, upstream, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType);
    }

    private static Task WaitForUpstreamAsync(TestGateway gateway, string upstream) =>
        Eventually.HoldsAsync(async () => (await GetAsync(gateway)).Upstream == upstream, TimeSpan.FromSeconds(10), $"{upstream} never answered through the gateway");

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task MeshCluster_RoutesToRegisteredInstances_WithTheGatewaysSpiffeIdAsClientCertificate(string forwarder)
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        var one = await mesh.StartInstanceAsync("orders", "orders-1");
        var two = await mesh.StartInstanceAsync("orders", "orders-2");
        await using var gateway = await StartGatewayAsync(mesh, forwarder: forwarder);
        await WaitForUpstreamAsync(gateway, "orders-1");

        var seen = new HashSet<string>();
        var protocols = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            using var response = await gateway.Client.GetAsync("/orders/1");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            seen.Add(response.Headers.GetValues("x-upstream").Single());
            protocols.Add(response.Headers.GetValues("x-protocol").Single());
        }
        Assert.Equal(["orders-1", "orders-2"], seen.Order());
        Assert.All(one.Callers.Concat(two.Callers), caller => Assert.Equal(GatewaySpiffeId, caller));
        // The hop's protocol: YARP's client negotiates h2 with the instance (ALPN); the direct path speaks HTTP/1.1.
        Assert.Equal([forwarder == "yarp" ? "HTTP/2" : "HTTP/1.1"], protocols);
        gateway.AssertServedBy(forwarder);
    }

    [Fact]
    public async Task MeshCluster_BeforeTheFirstSnapshot_Answers503SayingSo()
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        var unreachable = mesh.MeshSection().Replace(mesh.ControlPlane.GrpcAddress.GetLeftPart(UriPartial.Authority), "http://127.0.0.1:1");
        await using var gateway = await StartGatewayAsync(mesh, Config(mesh).Replace(mesh.MeshSection(), unreachable));

        var (status, _, body, contentType) = await GetAsync(gateway);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("application/problem+json", contentType);
        Assert.Contains("mesh snapshot has not arrived yet", body);
    }

    [Fact]
    public async Task MeshCluster_ServiceWithoutLiveInstances_Answers503NamingTheService()
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        await mesh.StartInstanceAsync("payments", "payments-1");
        await using var gateway = await StartGatewayAsync(mesh);

        await Eventually.HoldsAsync(async () => (await GetAsync(gateway)).Body.Contains("no live instance"), TimeSpan.FromSeconds(10), "no 'no live instance' answer");
        var (status, _, body, contentType) = await GetAsync(gateway);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("application/problem+json", contentType);
        Assert.Contains("'orders' has no live instance", body);
    }

    [Fact]
    public async Task Instances_RegisteringLater_GetTraffic_AndDeregisteredOnesNoMore()
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        var one = await mesh.StartInstanceAsync("orders", "orders-1");
        await using var gateway = await StartGatewayAsync(mesh);
        await WaitForUpstreamAsync(gateway, "orders-1");

        var two = await mesh.StartInstanceAsync("orders", "orders-2");
        await WaitForUpstreamAsync(gateway, "orders-2");

        await mesh.DeregisterAsync(one);
        // Once the snapshot without orders-1 is applied, every answer comes from orders-2.
        await Eventually.HoldsAsync(async () =>
        {
            for (var i = 0; i < 4; i++)
            {
                if ((await GetAsync(gateway)).Upstream != "orders-2") return false;
            }
            return true;
        }, TimeSpan.FromSeconds(10), "orders-1 kept getting traffic after it deregistered");
        var before = one.Requests;
        for (var i = 0; i < 20; i++) Assert.Equal("orders-2", (await GetAsync(gateway)).Upstream);
        Assert.Equal(before, one.Requests);
    }

    [Fact]
    public async Task Instance_WhoseLeaseExpires_GetsNoMoreTraffic()
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync(ttl: TimeSpan.FromSeconds(1));
        var expiring = await mesh.StartInstanceAsync("orders", "orders-expiring");
        await using var gateway = await StartGatewayAsync(mesh);
        await WaitForUpstreamAsync(gateway, "orders-expiring");

        // No heartbeats: the lease runs out and the control plane's next snapshot leaves the instance out.
        await Eventually.HoldsAsync(async () => (await GetAsync(gateway)).Body.Contains("no live instance"), TimeSpan.FromSeconds(10), "the expired instance kept getting traffic");
        var before = expiring.Requests;
        for (var i = 0; i < 5; i++) Assert.Equal(HttpStatusCode.ServiceUnavailable, (await GetAsync(gateway)).Status);
        Assert.Equal(before, expiring.Requests);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task Instance_PresentingAnotherServicesSpiffeId_IsRefusedWith502_AndTheLogNamesBothIds(string forwarder)
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        var impostor = await mesh.StartInstanceAsync("orders", "orders-impostor", presentAs: "payments");
        await using var gateway = await StartGatewayAsync(mesh, forwarder: forwarder);
        var logs = new LogCapture();
        gateway.Host.Gateway.Services.GetRequiredService<ILoggerFactory>().AddProvider(logs);

        await Eventually.HoldsAsync(async () => (await GetAsync(gateway)).Status == HttpStatusCode.BadGateway, TimeSpan.FromSeconds(10), "the impostor was never refused");
        var (status, upstream, body, contentType) = await GetAsync(gateway);

        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.Null(upstream);
        Assert.Equal("application/problem+json", contentType);
        Assert.Contains("TLS certificate was refused", body);
        Assert.Equal(0, impostor.Requests);
        Assert.Contains(logs.Lines, line => line.Contains("expected SPIFFE id spiffe://test.mesh/ns/default/sa/orders") && line.Contains("presented spiffe://test.mesh/ns/default/sa/payments"));
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task Instance_WithACertificateFromAnotherCa_IsRefusedWith502(string forwarder)
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        await using var other = await DiscoveryTestMesh.StartAsync();
        var stranger = await mesh.StartInstanceAsync("orders", "orders-stranger", otherCa: other.Authority);
        await using var gateway = await StartGatewayAsync(mesh, forwarder: forwarder);

        await Eventually.HoldsAsync(async () => (await GetAsync(gateway)).Status == HttpStatusCode.BadGateway, TimeSpan.FromSeconds(10), "the instance from another CA was never refused");
        Assert.Contains("TLS certificate was refused", (await GetAsync(gateway)).Body);
        Assert.Equal(0, stranger.Requests);
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task Instance_WhoseCertificateHasExpired_IsRefusedOnTheNextConnection(string forwarder)
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        var instance = await mesh.StartInstanceAsync("orders", "orders-1");
        var clock = new ShiftedClock();
        await using var gateway = await TestGateway.StartAsync(Config(mesh, forwarder: forwarder), time: clock, identity: mesh.IssueIdentity("gateway"));
        var logs = new LogCapture();
        gateway.Host.Gateway.Services.GetRequiredService<ILoggerFactory>().AddProvider(logs);
        await WaitForUpstreamAsync(gateway, "orders-1");

        // Two days on, the instances' one-day certificates have expired; a new instance means a new handshake.
        clock.Set(DateTimeOffset.UtcNow.AddDays(2));
        var next = await mesh.StartInstanceAsync("orders", "orders-2");
        await mesh.DeregisterAsync(instance);

        await Eventually.HoldsAsync(async () => (await GetAsync(gateway)).Status == HttpStatusCode.BadGateway, TimeSpan.FromSeconds(10), "the expired certificate was never refused");
        Assert.Contains("TLS certificate was refused", (await GetAsync(gateway)).Body);
        Assert.Equal(0, next.Requests);
        Assert.Contains(logs.Lines, line => line.Contains("of cluster orders refused") && line.Contains("does not chain to the mesh trust bundle or is expired"));
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task GatewayWithoutItsCertificateYet_FailsClosedWith502_AndNoRequestReachesTheInstance(string forwarder)
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        var instance = await mesh.StartInstanceAsync("orders", "orders-1");
        await using var gateway = await TestGateway.StartAsync(Config(mesh, forwarder: forwarder), identity: new IdentityNotYetIssued());

        await Eventually.HoldsAsync(async () => (await GetAsync(gateway)).Status == HttpStatusCode.BadGateway, TimeSpan.FromSeconds(10), "no 502 without a workload certificate");
        var (_, upstream, _, contentType) = await GetAsync(gateway);
        Assert.Null(upstream);
        Assert.Equal("application/problem+json", contentType);
        Assert.Equal(0, instance.Requests);
        gateway.AssertServedBy(forwarder);
    }

    /// <summary>A workload identity still waiting for its first certificate (as a sidecar whose CA has not answered yet).</summary>
    private sealed class IdentityNotYetIssued : Proxy.Mesh.IWorkloadIdentity
    {
        private static Exception NotYet() => new InvalidOperationException("no workload certificate yet");
        public System.Security.Cryptography.X509Certificates.X509Certificate2 Certificate => throw NotYet();
        public System.Security.Cryptography.X509Certificates.X509Certificate2Collection Chain => throw NotYet();
        public System.Security.Cryptography.X509Certificates.X509Certificate2Collection TrustBundle => throw NotYet();
        public string SpiffeId => throw NotYet();
        public string SpiffeIdOf(string service, string ns) => $"spiffe://{DiscoveryTestMesh.TrustDomain}/ns/{ns}/sa/{service}";
    }

    [Fact]
    public async Task Explain_MeshCluster_YarpOnAutoDirectWhenAskedFor()
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        await using var onAuto = await StartGatewayAsync(mesh);
        await using var direct = await StartGatewayAsync(mesh, forwarder: "direct");
        using var auto = System.Text.Json.JsonDocument.Parse(await onAuto.Admin.GetStringAsync("/admin/explain?path=/orders/1"));
        using var asked = System.Text.Json.JsonDocument.Parse(await direct.Admin.GetStringAsync("/admin/explain?path=/orders/1"));
        Assert.StartsWith("yarp: mesh cluster under forwarder: auto (", auto.RootElement.GetProperty("policies").GetProperty("forwarder").GetString());
        Assert.StartsWith("direct: HTTP/1.1 upstream path with mesh mTLS (", asked.RootElement.GetProperty("policies").GetProperty("forwarder").GetString());
    }

    [Fact]
    public async Task VersionSplit_FromTheControlPlane_IsHonouredAsARatio()
    {
        var policies = new MeshPolicies { Services = { new ServicePolicy { Service = "orders", Split = { new VersionWeight { Version = "v1", Weight = 80 }, new VersionWeight { Version = "v2", Weight = 20 } } } } };
        await using var mesh = await DiscoveryTestMesh.StartAsync(policies: policies);
        await mesh.StartInstanceAsync("orders", "orders-v1", version: "v1");
        await mesh.StartInstanceAsync("orders", "orders-v2", version: "v2");
        await using var gateway = await StartGatewayAsync(mesh);
        await WaitForUpstreamAsync(gateway, "orders-v2");

        var v2 = 0;
        const int requests = 200;
        for (var i = 0; i < requests; i++)
        {
            if ((await GetAsync(gateway)).Upstream == "orders-v2") v2++;
        }
        // 20 % expected; bounds wide enough for a weighted random choice over 200 requests.
        Assert.InRange(v2, requests * 8 / 100, requests * 35 / 100);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task TimeoutPolicy_FromTheControlPlane_Answers504(string forwarder)
    {
        var policies = new MeshPolicies { Services = { new ServicePolicy { Service = "orders", TimeoutMs = 300 } } };
        await using var mesh = await DiscoveryTestMesh.StartAsync(policies: policies);
        var slow = await mesh.StartInstanceAsync("orders", "orders-slow");
        await using var gateway = await StartGatewayAsync(mesh, forwarder: forwarder);
        await WaitForUpstreamAsync(gateway, "orders-slow");
        slow.Behaviour = async context => { await Task.Delay(TimeSpan.FromSeconds(5), context.RequestAborted); return false; };

        var started = System.Diagnostics.Stopwatch.StartNew();
        var (status, _, _, _) = await GetAsync(gateway);

        Assert.Equal(HttpStatusCode.GatewayTimeout, status);
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(3));
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task RetryPolicy_FromTheControlPlane_RetriesGatewayErrors(string forwarder)
    {
        var policies = new MeshPolicies { Services = { new ServicePolicy { Service = "orders", RetryAttempts = 2 } } };
        await using var mesh = await DiscoveryTestMesh.StartAsync(policies: policies);
        var flaky = await mesh.StartInstanceAsync("orders", "orders-flaky");
        await using var gateway = await StartGatewayAsync(mesh, forwarder: forwarder);
        await WaitForUpstreamAsync(gateway, "orders-flaky");
        var failuresLeft = 2;
        flaky.Behaviour = context =>
        {
            if (Interlocked.Decrement(ref failuresLeft) < 0) return Task.FromResult(false);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.FromResult(true);
        };
        var before = flaky.Requests;

        var (status, upstream, _, _) = await GetAsync(gateway);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("orders-flaky", upstream);
        Assert.Equal(3, flaky.Requests - before);
        gateway.AssertServedBy(forwarder);
    }

    [Fact]
    public async Task ControlPlaneAway_GatewayKeepsRoutingOnTheLastSnapshot_AndAcksAgainWhenItIsBack()
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        await mesh.StartInstanceAsync("orders", "orders-1");
        await using var gateway = await StartGatewayAsync(mesh);
        await WaitForUpstreamAsync(gateway, "orders-1");
        await AssertAckedAsync(mesh);

        await mesh.StopControlPlaneAsync();
        for (var i = 0; i < 10; i++) Assert.Equal("orders-1", (await GetAsync(gateway)).Upstream);

        await mesh.StartControlPlaneAsync();
        await AssertAckedAsync(mesh);
        Assert.Equal("orders-1", (await GetAsync(gateway)).Upstream);
    }

    private static async Task AssertAckedAsync(DiscoveryTestMesh mesh) =>
        await Eventually.HoldsAsync(async () =>
        {
            var proxies = await mesh.ProxiesAsync();
            var version = proxies.GetProperty("version").GetInt64();
            return proxies.GetProperty("proxies").EnumerateArray().Any(p =>
                p.GetProperty("kind").GetString() == "gateway" && p.GetProperty("connected").GetBoolean() && p.GetProperty("versionAcked").GetInt64() == version);
        }, TimeSpan.FromSeconds(20), "the gateway never ACKed the control plane's current version");

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task InstanceKilledMidLoad_IsEjected_WithNoFailedIdempotentRequest(string forwarder)
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        var doomed = await mesh.StartInstanceAsync("orders", "orders-doomed");
        await mesh.StartInstanceAsync("orders", "orders-survivor");
        await using var gateway = await StartGatewayAsync(mesh, forwarder: forwarder);
        await WaitForUpstreamAsync(gateway, "orders-doomed");
        await WaitForUpstreamAsync(gateway, "orders-survivor");

        // Eight clients: a kill fails every request in flight on the instance's connections (one HTTP/2 connection on YARP), more than the
        // retry budget's floor of three; each is a failover off an ejected instance, which the budget does not limit.
        await using var load = UpstreamLoad.Start(gateway.Client, "/orders/1", loops: 8, requestsPerLoop: 200);
        await Eventually.HoldsAsync(() => Task.FromResult(load.SeenFrom("orders-doomed") >= 20), TimeSpan.FromSeconds(10), "the load never reached the doomed instance");
        // Still registered: only ejection (and retries on another instance) keep requests from failing.
        await doomed.KillAsync();
        var atKill = load.SeenFrom("orders-survivor");
        await Eventually.HoldsAsync(() => Task.FromResult(load.SeenFrom("orders-survivor") >= atKill + 100), TimeSpan.FromSeconds(15), "the survivor did not take over the load");
        await load.StopAsync();

        Assert.Equal(0, load.Failures);
    }

    [Fact]
    public async Task SnapshotWithAPolicyThatCannotApply_IsNacked_AndTheGatewayStaysOnThePreviousOne()
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        await mesh.StartInstanceAsync("orders", "orders-1");
        await using var gateway = await StartGatewayAsync(mesh);
        await WaitForUpstreamAsync(gateway, "orders-1");
        await AssertAckedAsync(mesh);

        mesh.ControlPlane.Hub.SetPolicies(new MeshPolicies { Services = { new ServicePolicy { Service = "orders", RetryAttempts = 50 } } });

        await Eventually.HoldsAsync(async () =>
        {
            var proxies = await mesh.ProxiesAsync();
            return proxies.GetProperty("proxies").EnumerateArray().Any(p =>
                p.GetProperty("kind").GetString() == "gateway" && p.GetProperty("lastNackReason").GetString() is { } reason && reason.Contains("retry_attempts must be between 0 and 9, found 50"));
        }, TimeSpan.FromSeconds(10), "no NACK naming the bad policy in /admin/proxies");
        Assert.Equal("orders-1", (await GetAsync(gateway)).Upstream);
    }

    [Fact]
    public async Task InstanceLeaving_DoesNotDisturbARequestInFlightToIt()
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        var leaving = await mesh.StartInstanceAsync("orders", "orders-leaving");
        await using var gateway = await StartGatewayAsync(mesh);
        await WaitForUpstreamAsync(gateway, "orders-leaving");
        leaving.Behaviour = async context => { await Task.Delay(TimeSpan.FromSeconds(2), context.RequestAborted); return false; };

        var before = leaving.Requests;
        var inFlight = GetAsync(gateway, "/orders/slow");
        await Eventually.HoldsAsync(() => Task.FromResult(leaving.Requests > before), TimeSpan.FromSeconds(5), "the slow request never reached the instance");
        await mesh.DeregisterAsync(leaving);
        await mesh.StartInstanceAsync("orders", "orders-next");
        await Eventually.HoldsAsync(async () => (await GetAsync(gateway)).Upstream == "orders-next", TimeSpan.FromSeconds(10), "the new instance never answered");

        var (status, upstream, body, _) = await inFlight;
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("orders-leaving", upstream);
        Assert.Equal("orders-leaving", body);
    }

    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task RenewedCertificate_IsPresentedOnNewConnections(string forwarder)
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        var instance = await mesh.StartInstanceAsync("orders", "orders-1");
        var identity = mesh.IssueIdentity("gateway");
        await using var gateway = await TestGateway.StartAsync(Config(mesh, forwarder: forwarder), identity: identity);
        await WaitForUpstreamAsync(gateway, "orders-1");
        Assert.Equal(GatewaySpiffeId, (await GatewayCallerAsync(gateway)));

        // A renewal: the identity hands out a new leaf (here for another name, so instances can tell them apart).
        // An instance that appears needs a new connection, whose handshake presents the renewed leaf.
        identity.Certificate = mesh.Issue("gateway-renewed");
        var next = await mesh.StartInstanceAsync("orders", "orders-2");
        await mesh.DeregisterAsync(instance);
        await WaitForUpstreamAsync(gateway, "orders-2");

        Assert.Equal("spiffe://test.mesh/ns/default/sa/gateway-renewed", await GatewayCallerAsync(gateway));
        Assert.All(next.Callers, caller => Assert.Equal("spiffe://test.mesh/ns/default/sa/gateway-renewed", caller));
        gateway.AssertServedBy(forwarder);
    }

    private static async Task<string?> GatewayCallerAsync(TestGateway gateway)
    {
        using var response = await gateway.Client.GetAsync("/orders/1");
        return response.Headers.TryGetValues("x-caller", out var values) ? values.Single() : null;
    }
}
