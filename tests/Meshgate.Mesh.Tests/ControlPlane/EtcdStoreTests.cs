using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Meshgate.Mesh.CertificateAuthority;
using Meshgate.Mesh.ControlPlane.Etcd;
using Meshgate.Mesh.V1;
using Meshgate.TestKit;

namespace Meshgate.Mesh.Tests.ControlPlane;

/// <summary>
/// Two control-plane replicas on one real etcd (<see cref="EtcdServer"/>): what one replica is told, the other serves;
/// leases live in etcd; versions are etcd's revisions; an etcd outage leaves the last snapshot served and ends in a resync.
/// </summary>
public sealed class EtcdStoreTests : IAsyncLifetime
{
    private EtcdServer _etcd = null!;
    private readonly List<TestControlPlane> _replicas = [];

    public async Task InitializeAsync() => _etcd = await EtcdServer.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var replica in _replicas) await replica.DisposeAsync();
        await _etcd.DisposeAsync();
    }

    private async Task<TestControlPlane> ReplicaAsync(TimeSpan? ttl = null, MeshPolicies? policies = null, CertificateAuthorityOptions? ca = null)
    {
        var replica = await TestControlPlane.StartAsync(
            ttl: ttl,
            policies: policies,
            etcd: new EtcdStoreOptions { Endpoints = [_etcd.Endpoint], RetryInterval = TimeSpan.FromMilliseconds(200), CallTimeout = TimeSpan.FromSeconds(3) },
            ca: ca);
        _replicas.Add(replica);
        return replica;
    }

    private static bool Has(TestControlPlane replica, string instanceId) => replica.Server.Registry.Instances.Any(i => i.InstanceId == instanceId);

    [Fact]
    public async Task Register_ThroughReplicaA_IsPushedToAWatcherOnReplicaB()
    {
        var a = await ReplicaAsync();
        var b = await ReplicaAsync();
        using var watcher = Watcher.Start(b.Distribution, "sidecar-1");
        var first = await watcher.NextMatchingAsync(_ => true);
        Assert.Empty(first.Services);

        await a.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1", port: 9001, version: "v2"));

        var seen = await watcher.NextMatchingAsync(s => Watcher.Has(s, "orders", "orders-1"));
        var instance = Assert.Single(Assert.Single(seen.Services).Instances);
        Assert.Equal(("10.0.0.1", 9001, "v2"), (instance.Address, instance.Port, instance.Labels["version"]));
        Assert.True(seen.Version > first.Version);

        var services = await b.AdminJsonAsync("/admin/services");
        var listed = services.GetProperty("services")[0].GetProperty("instances")[0];
        Assert.Equal("orders-1", listed.GetProperty("instanceId").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, listed.GetProperty("expiresAt").ValueKind); // the lease is etcd's
    }

    [Fact]
    public async Task Heartbeats_ThroughReplicaB_KeepAnInstanceRegisteredThroughA_AndWithoutThemItLeavesBoth()
    {
        var ttl = TimeSpan.FromSeconds(3);
        var a = await ReplicaAsync(ttl);
        var b = await ReplicaAsync(ttl);
        var lease = await a.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
        Assert.Equal(3000, lease.TtlMs);

        // Five seconds of heartbeats through B only: longer than the TTL, so without them the instance would be gone.
        var heartbeats = Stopwatch.StartNew();
        while (heartbeats.Elapsed < TimeSpan.FromSeconds(5))
        {
            var renewed = await b.Registry.HeartbeatAsync(new HeartbeatRequest { InstanceId = "orders-1" });
            Assert.True(renewed.ExpiresUnixMs > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            await Task.Delay(400);
        }
        await Eventually.HoldsAsync(() => Task.FromResult(Has(a, "orders-1") && Has(b, "orders-1")), TimeSpan.FromSeconds(5), "both replicas hold the instance");

        var stopped = Stopwatch.StartNew();
        await Eventually.HoldsAsync(() => Task.FromResult(!Has(a, "orders-1") && !Has(b, "orders-1")), TimeSpan.FromSeconds(10), "the instance leaves both replicas after its TTL");
        Assert.True(stopped.Elapsed > TimeSpan.FromSeconds(1.5), $"left after {stopped.Elapsed}, before its 3 s TTL could run out");
        var error = await Assert.ThrowsAsync<RpcException>(async () => await b.Registry.HeartbeatAsync(new HeartbeatRequest { InstanceId = "orders-1" }));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    [Fact]
    public async Task Deregister_ThroughReplicaB_RemovesAnInstanceRegisteredThroughA()
    {
        var a = await ReplicaAsync();
        var b = await ReplicaAsync();
        await a.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
        await Eventually.HoldsAsync(() => Task.FromResult(Has(b, "orders-1")), TimeSpan.FromSeconds(5), "B sees the registration");

        Assert.True((await b.Registry.DeregisterAsync(new DeregisterRequest { InstanceId = "orders-1" })).Removed);
        Assert.False((await b.Registry.DeregisterAsync(new DeregisterRequest { InstanceId = "orders-1" })).Removed);
        await Eventually.HoldsAsync(() => Task.FromResult(!Has(a, "orders-1")), TimeSpan.FromSeconds(5), "A drops it too");
    }

    [Fact]
    public async Task Versions_AreEtcdRevisions_SoTheyAgreeAcrossReplicasAndOnlyGoUpAcrossRestarts()
    {
        var a = await ReplicaAsync();
        var b = await ReplicaAsync();
        var before = a.Server.Hub.Current.Version;

        await a.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
        await Eventually.HoldsAsync(() => Task.FromResult(Has(a, "orders-1") && Has(b, "orders-1")), TimeSpan.FromSeconds(5), "both see orders-1");
        await Eventually.HoldsAsync(
            () => Task.FromResult(a.Server.Hub.Current.Version > before && a.Server.Hub.Current.Version == b.Server.Hub.Current.Version && Watcher.Has(b.Server.Hub.Current, "orders", "orders-1")),
            TimeSpan.FromSeconds(5), "both publish the change under the same version");
        var afterFirst = b.Server.Hub.Current.Version;

        await b.Registry.RegisterAsync(TestControlPlane.Instance("users", "users-1"));
        await Eventually.HoldsAsync(() => Task.FromResult(a.Server.Hub.Current.Version > afterFirst && Has(a, "users-1")), TimeSpan.FromSeconds(5), "a change through B raises A's version");

        // A replica started later (or restarted) starts at the current revision, never below what proxies already saw.
        var seen = a.Server.Hub.Current.Version;
        await a.DisposeAsync();
        _replicas.Remove(a);
        var restarted = await ReplicaAsync();
        Assert.True(restarted.Server.Hub.Current.Version >= seen, $"{restarted.Server.Hub.Current.Version} < {seen}");
        Assert.Equal(["orders-1", "users-1"], restarted.Server.Registry.Instances.Select(i => i.InstanceId));
    }

    [Fact]
    public async Task ReplicaAStopped_ReplicaBKeepsServing_AndKeepsAsLongAsHeartbeatsReachIt()
    {
        var ttl = TimeSpan.FromSeconds(3);
        var a = await ReplicaAsync(ttl);
        var b = await ReplicaAsync(ttl);
        await a.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
        await Eventually.HoldsAsync(() => Task.FromResult(Has(b, "orders-1")), TimeSpan.FromSeconds(5), "B sees orders-1");

        await a.DisposeAsync();
        _replicas.Remove(a);

        using var watcher = Watcher.Start(b.Distribution, "sidecar-1");
        await b.Registry.RegisterAsync(TestControlPlane.Instance("users", "users-1"));
        for (var i = 0; i < 10; i++)
        {
            await b.Registry.HeartbeatAsync(new HeartbeatRequest { InstanceId = "orders-1" });
            await b.Registry.HeartbeatAsync(new HeartbeatRequest { InstanceId = "users-1" });
            await Task.Delay(400);
        }
        var snapshot = await watcher.NextMatchingAsync(s => Watcher.Has(s, "users", "users-1"));
        Assert.True(Watcher.Has(snapshot, "orders", "orders-1"), "the instance registered through the stopped replica stays while its heartbeats reach B");
        using var ready = await b.Admin.GetAsync("/admin/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task EtcdDown_LastSnapshotStaysServed_ReadyAndRegistrationsSayEtcd_ThenResyncsWhenItIsBack()
    {
        var a = await ReplicaAsync();
        var b = await ReplicaAsync();
        await a.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
        using var watcher = Watcher.Start(b.Distribution, "sidecar-1");
        var before = await watcher.NextMatchingAsync(s => Watcher.Has(s, "orders", "orders-1"));

        await _etcd.StopAsync();

        string body = "";
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await b.Admin.GetAsync("/admin/health/ready");
            body = await response.Content.ReadAsStringAsync();
            return response.StatusCode == HttpStatusCode.ServiceUnavailable;
        }, TimeSpan.FromSeconds(10), "B reports not ready while etcd is down");
        Assert.StartsWith("not ready: etcd at etcd://127.0.0.1:", body);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await a.Registry.RegisterAsync(TestControlPlane.Instance("users", "users-1")));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.StartsWith($"cannot register 'users-1': etcd at {_etcd.StoreUrl} is unavailable", error.Status.Detail);

        // A proxy connecting now gets the last snapshot, not an empty one.
        using (var late = Watcher.Start(b.Distribution, "sidecar-2"))
        {
            var last = await late.NextMatchingAsync(_ => true);
            Assert.Equal(before.Version, last.Version);
            Assert.True(Watcher.Has(last, "orders", "orders-1"));
        }

        await _etcd.StartAgainAsync();

        await Eventually.HoldsAsync(async () =>
        {
            using var response = await b.Admin.GetAsync("/admin/health/ready");
            return response.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(10), "B is ready again once etcd is back");
        await Eventually.HoldsAsync(async () =>
        {
            try
            {
                await a.Registry.RegisterAsync(TestControlPlane.Instance("users", "users-1"));
                return true;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(10), "registrations through A work again");
        // The watch opened before the outage goes on and gets the change made through the other replica.
        var after = await watcher.NextMatchingAsync(s => Watcher.Has(s, "users", "users-1"));
        Assert.True(after.Version > before.Version);
        Assert.True(Watcher.Has(after, "orders", "orders-1"));
    }

    [Fact]
    public async Task Policies_FromReplicaAsFile_AreServedByTheOtherReplica()
    {
        var a = await ReplicaAsync(policies: new MeshPolicies { Services = { new ServicePolicy { Service = "orders", TimeoutMs = 2000, RetryAttempts = 2 } } });
        var b = await ReplicaAsync();
        using var watcher = Watcher.Start(b.Distribution, "sidecar-1");

        var snapshot = await watcher.NextMatchingAsync(s => s.Policies.Services.Any(p => p.Service == "orders"));

        var orders = Assert.Single(snapshot.Policies.Services);
        Assert.Equal((2000, 2), (orders.TimeoutMs, orders.RetryAttempts));
        Assert.Equal(a.Server.Hub.Policies, b.Server.Hub.Policies);
    }

    [Fact]
    public async Task Certificate_SignedByReplicaA_VerifiesWithTheTrustBundleOfReplicaB()
    {
        using var files = new CertificateAuthority.ScratchDirectory();
        using var rootKey = RSA.Create(2048);
        var rootRequest = new CertificateRequest("CN=Example Corp Root", rootKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediateRequest = new CertificateRequest("CN=Example Corp Mesh Intermediate", intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature, true));
        intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
        using var intermediate = intermediateRequest.Create(root.SubjectName, X509SignatureGenerator.CreateForRSA(rootKey, RSASignaturePadding.Pkcs1), DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddYears(1), [1, 2, 3, 4]);
        File.WriteAllText(Path.Combine(files.Path, "intermediate.crt"), intermediate.ExportCertificatePem() + "\n" + root.ExportCertificatePem());
        File.WriteAllText(Path.Combine(files.Path, "intermediate.key"), intermediateKey.ExportPkcs8PrivateKeyPem());
        CertificateAuthorityOptions Ca()
        {
            var ca = new CertificateAuthorityOptions
            {
                TrustDomain = "shop.mesh",
                IntermediateCertificateFile = Path.Combine(files.Path, "intermediate.crt"),
                IntermediateKeyFile = Path.Combine(files.Path, "intermediate.key"),
            };
            ca.Tokens.Add(new BootstrapToken("shop", "orders", BootstrapToken.Hash("orders-bootstrap-token-0123456789")));
            return ca;
        }
        var a = await ReplicaAsync(ca: Ca());
        var b = await ReplicaAsync(ca: Ca());

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=orders", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        var signed = await new V1.CertificateAuthority.CertificateAuthorityClient(a.Channel).SignAsync(new SignRequest { Csr = ByteString.CopyFrom(csr), BootstrapToken = "orders-bootstrap-token-0123456789" });
        var bundleOfB = await new V1.CertificateAuthority.CertificateAuthorityClient(b.Channel).GetTrustBundleAsync(new GetTrustBundleRequest());

        using var leaf = X509Certificate2.CreateFromPem(signed.CertificatePem);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPem(bundleOfB.TrustBundlePem);
        chain.ChainPolicy.CustomTrustStore.AddRange(bundle);
        var intermediates = new X509Certificate2Collection();
        intermediates.ImportFromPem(signed.ChainPem);
        chain.ChainPolicy.ExtraStore.AddRange(intermediates);
        Assert.True(chain.Build(leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal("spiffe://shop.mesh/ns/shop/sa/orders", signed.SpiffeId);
    }

    [Fact]
    public async Task Server_WithEtcdAndASelfMadeRoot_RefusesToStart()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        var error = await Assert.ThrowsAsync<ArgumentException>(() => ReplicaAsync(ca: new CertificateAuthorityOptions { StateDirectory = dir.Path }));
        Assert.StartsWith("with the etcd store the certificate authority needs a supplied intermediate", error.Message);
    }
}
