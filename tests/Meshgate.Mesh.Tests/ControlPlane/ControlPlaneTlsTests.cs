using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Grpc.Core;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.ControlPlane.Client;
using Meshgate.Mesh.ControlPlane.Tls;
using Meshgate.Mesh.Identity;
using Meshgate.Mesh.V1;
using Meshgate.Proxy.Mesh;
using Meshgate.TestKit;
using Meshgate.TestKit.Mesh;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Mesh.Tests.ControlPlane;

/// <summary>
/// The control plane's gRPC listener over real TLS (Kestrel, in process): the serving certificate its CA issues, the
/// out-of-band trust bundle file, clients that trust the wrong CA or speak plaintext, and root rotation via the admin API.
/// </summary>
public sealed class ControlPlaneTlsTests
{
    private static WorkloadIdentity Identity(Uri controlPlane, string? caFile, string service = "orders", TimeProvider? time = null) =>
        new(new WorkloadIdentityOptions
        {
            ControlPlane = controlPlane,
            ControlPlaneCa = caFile,
            Service = service,
            Token = () => TestMesh.TokenOf(service),
            RetryInitial = TimeSpan.FromMilliseconds(200),
            RetryMax = TimeSpan.FromSeconds(2),
            TrustBundleRefresh = TimeSpan.FromMinutes(1),
        }, time ?? TimeProvider.System, NullLogger<WorkloadIdentity>.Instance);

    private static X509Certificate2Collection Pem(string file)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(file);
        return certificates;
    }

    private static bool ChainsTo(X509Certificate2 leaf, IEnumerable<X509Certificate2> roots)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots.ToArray());
        return chain.Build(leaf);
    }

    [Fact]
    public async Task WorkloadIdentity_OverTls_WithControlPlaneCa_GetsItsCertificate()
    {
        await using var mesh = await TestMesh.StartAsync(tls: true);
        Assert.Equal("https", mesh.ControlPlaneUrl.Scheme);
        await using var identity = Identity(mesh.ControlPlaneUrl, mesh.ControlPlaneCaFile);

        await identity.WaitForCertificateAsync(TimeSpan.FromSeconds(20));

        Assert.Equal("spiffe://mesh.test/ns/default/sa/orders", identity.SpiffeId);
        var serving = mesh.Server.ServingCertificate!;
        Assert.Equal("spiffe://mesh.test/ns/meshgate-system/sa/control-plane", MeshPeerValidation.SpiffeIdOf(serving));
        var bundle = Pem(mesh.ControlPlaneCaFile!);
        Assert.True(ChainsTo(serving, bundle.Cast<X509Certificate2>()), "the serving certificate chains to the trust bundle file");
        Assert.True(ChainsTo(identity.Certificate, bundle.Cast<X509Certificate2>()), "the workload certificate chains to the same bundle");
    }

    [Fact]
    public async Task WrongCaFile_FailsWithTheTlsReason()
    {
        await using var mesh = await TestMesh.StartAsync(tls: true);
        using var other = new TestCertificates(mesh.Directory, "Some Other CA");
        await using var identity = Identity(mesh.ControlPlaneUrl, other.CaPath);

        var error = await Assert.ThrowsAsync<WorkloadIdentityUnavailableException>(() => identity.WaitForCertificateAsync(TimeSpan.FromSeconds(3)));

        Assert.Contains($"TLS handshake with the control plane at {mesh.ControlPlaneUrl} failed", error.Message);
        Assert.Contains($"does not chain to a root in mesh.controlPlaneCa {other.CaPath}", error.Message);
        Assert.Contains("control-plane", error.Message); // the certificate's subject (CN=control-plane)
    }

    [Fact]
    public async Task WrongHostName_FailsSayingTheNameIsNotInTheCertificate()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        using var certificates = new TestCertificates(dir.Path, "Operator CA");
        // Valid for cp.example only, reached at 127.0.0.1.
        var (_, certPath, keyPath) = certificates.Issue("cp.example", loopback: false);
        await using var server = new ControlPlaneServer(new ControlPlaneOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Admin = new IPEndPoint(IPAddress.Loopback, 0),
            Tls = new ControlPlaneTlsOptions { CertificateFile = certPath, KeyFile = keyPath },
        }, policies: null, logging: l => l.ClearProviders());
        await server.StartAsync();
        await using var identity = Identity(server.GrpcAddress, certificates.CaPath);

        var error = await Assert.ThrowsAsync<WorkloadIdentityUnavailableException>(() => identity.WaitForCertificateAsync(TimeSpan.FromSeconds(3)));

        Assert.Contains($"TLS handshake with the control plane at {server.GrpcAddress} failed", error.Message);
        Assert.Contains("the control plane's certificate (CN=cp.example) is not valid for the host name in the URL", error.Message);
    }

    [Fact]
    public async Task PlaintextClient_ToTheTlsListener_Fails()
    {
        await using var mesh = await TestMesh.StartAsync(tls: true);
        using var channel = ControlPlaneChannel.Create(new Uri($"http://127.0.0.1:{mesh.ControlPlaneUrl.Port}"), caFile: null);
        var client = new V1.CertificateAuthority.CertificateAuthorityClient(channel);

        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.GetTrustBundleAsync(new GetTrustBundleRequest(), deadline: DateTime.UtcNow.AddSeconds(10)));

        // The TLS listener answers the HTTP/2 preface with a TLS alert or a closed connection: which one depends on timing.
        Assert.Contains(error.StatusCode, new[] { StatusCode.Unavailable, StatusCode.Internal });
        Assert.Contains("Error starting gRPC call", error.Status.Detail);
    }

    [Fact]
    public async Task Channel_ToAPlaintextControlPlane_StillWorks_AndRefusesACaFile()
    {
        await using var mesh = await TestMesh.StartAsync();
        Assert.Equal("http", mesh.ControlPlaneUrl.Scheme);
        using var channel = ControlPlaneChannel.Create(mesh.ControlPlaneUrl, caFile: null);

        var answer = await new V1.CertificateAuthority.CertificateAuthorityClient(channel).GetTrustBundleAsync(new GetTrustBundleRequest());

        Assert.Contains("BEGIN CERTIFICATE", answer.TrustBundlePem);
        var error = Assert.Throws<ArgumentException>(() => ControlPlaneChannel.Create(mesh.ControlPlaneUrl, "/some/ca.pem"));
        Assert.Contains("only used with an https:// control plane", error.Message);
    }

    [Fact]
    public async Task SuppliedCertificate_IsServed_WithoutACertificateAuthority()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        using var certificates = new TestCertificates(dir.Path, "Operator CA");
        var (_, certPath, keyPath) = certificates.Issue("control-plane.example");
        await using var server = new ControlPlaneServer(new ControlPlaneOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Admin = new IPEndPoint(IPAddress.Loopback, 0),
            Tls = new ControlPlaneTlsOptions { CertificateFile = certPath, KeyFile = keyPath },
        }, policies: null, logging: l => l.ClearProviders());
        await server.StartAsync();
        using var channel = ControlPlaneChannel.Create(server.GrpcAddress, certificates.CaPath);

        var registered = await new Registry.RegistryClient(channel).RegisterAsync(new RegisterRequest { Service = "orders", InstanceId = "orders-1", Address = "127.0.0.1", Port = 8080 });

        Assert.Equal("https", server.GrpcAddress.Scheme);
        Assert.True(registered.TtlMs > 0);
        Assert.Equal("CN=control-plane.example", server.ServingCertificate!.Subject);
    }

    [Fact]
    public async Task RootRotation_ViaTheAdminApi_ReachesServingCertificate_BundleFile_AndRenewedWorkloadCertificates()
    {
        await using var mesh = await TestMesh.StartAsync(tls: true);
        // The workload was given the bundle before the rotation: it holds the old root only.
        var outOfBand = Path.Combine(mesh.Directory, "given-before-rotation.pem");
        File.Copy(mesh.ControlPlaneCaFile!, outOfBand);
        var oldRoot = Assert.Single(Pem(outOfBand));
        var clock = new JumpClock();
        await using var identity = Identity(mesh.ControlPlaneUrl, outOfBand, time: clock);
        await identity.WaitForCertificateAsync(TimeSpan.FromSeconds(20));
        var oldLeaf = identity.Certificate;

        using var admin = new HttpClient { BaseAddress = mesh.Server.AdminAddress };
        using var response = await admin.PostAsync("/admin/ca/rotate", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var newRootThumbprint = body.GetProperty("root").GetProperty("thumbprint").GetString();
        Assert.NotEqual(oldRoot.Thumbprint, newRootThumbprint);
        Assert.Equal(2, body.GetProperty("trustBundle").GetArrayLength());
        // The serving certificate is re-issued by the new root at once, and the bundle file holds both roots.
        var serving = mesh.Server.ServingCertificate!;
        Assert.Equal(body.GetProperty("root").GetProperty("subject").GetString(), serving.Issuer);
        Assert.Equal(body.GetProperty("servingCertificate").GetProperty("serial").GetString(), serving.SerialNumber);
        var file = Pem(mesh.ControlPlaneCaFile!);
        Assert.Equal(2, file.Count);
        Assert.Contains(file, c => c.Thumbprint == newRootThumbprint);

        // The workload fetches the new bundle at its next refresh (over the connection it has).
        clock.Advance(TimeSpan.FromSeconds(61));
        await Eventually.HoldsAsync(() => Task.FromResult(identity.TrustBundle.Count == 2), TimeSpan.FromSeconds(20), "the rotated root reaches the workload's bundle");

        // Renewal: the new leaf chains to the new root.
        clock.Advance(TimeSpan.FromHours(17));
        await Eventually.HoldsAsync(() => Task.FromResult(!ReferenceEquals(oldLeaf, identity.Certificate)), TimeSpan.FromSeconds(30), $"the leaf is renewed over TLS after the rotation ({identity.LastError})");
        var newRoot = file.Cast<X509Certificate2>().Single(c => c.Thumbprint == newRootThumbprint);
        Assert.True(ChainsTo(identity.Certificate, [newRoot]), "the renewed leaf chains to the new root");
        Assert.False(ChainsTo(identity.Certificate, [oldRoot]));
        // In the overlap the old root is still trusted: the leaf it signed still validates against the bundle.
        Assert.True(ChainsTo(oldLeaf, identity.TrustBundle.Cast<X509Certificate2>()), "the old root stays trusted in the overlap");
        Assert.Equal(2, identity.TrustBundle.Count);
    }

    [Fact]
    public async Task ServingCertificate_IsRenewedAtTwoThirdsOfItsLife()
    {
        var clock = new JumpClock();
        await using var mesh = await TestMesh.StartAsync(tls: true, time: clock);
        var first = mesh.Server.ServingCertificate!;

        clock.Advance(TimeSpan.FromHours(15)); // of a 24 h leaf: not yet
        Assert.Same(first, mesh.Server.ServingCertificate);
        clock.Advance(TimeSpan.FromHours(1.1));
        var renewed = mesh.Server.ServingCertificate!;

        Assert.NotEqual(first.SerialNumber, renewed.SerialNumber);
        Assert.Equal(first.Issuer, renewed.Issuer);
        Assert.Same(renewed, mesh.Server.ServingCertificate); // once renewed, kept until its own two thirds
    }

    [Fact]
    public async Task Replicas_WithASuppliedIntermediate_EachIssueTheirOwnServingCertificate_ThatClientsVerifyWithTheRootOnly()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        using var rootKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var rootRequest = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=Example Root", rootKey, System.Security.Cryptography.HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
        using var intermediateKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var intermediateRequest = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=Example Mesh Intermediate", intermediateKey, System.Security.Cryptography.HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
        using var intermediate = intermediateRequest.Create(root, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddYears(1), [7, 7, 7]);
        var rootFile = Path.Combine(dir.Path, "root.crt");
        File.WriteAllText(rootFile, root.ExportCertificatePem());
        File.WriteAllText(Path.Combine(dir.Path, "intermediate.crt"), intermediate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(dir.Path, "intermediate.key"), intermediateKey.ExportPkcs8PrivateKeyPem());
        ControlPlaneServer Replica() => new(new ControlPlaneOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Admin = new IPEndPoint(IPAddress.Loopback, 0),
            CertificateAuthority = new Meshgate.Mesh.CertificateAuthority.CertificateAuthorityOptions
            {
                TrustDomain = "corp.example",
                IntermediateCertificateFile = Path.Combine(dir.Path, "intermediate.crt"),
                IntermediateKeyFile = Path.Combine(dir.Path, "intermediate.key"),
                TrustBundleFile = rootFile,
            },
            Tls = new ControlPlaneTlsOptions(),
        }, policies: null, logging: l => l.ClearProviders());
        await using var one = Replica();
        await using var two = Replica();
        await one.StartAsync();
        await two.StartAsync();

        Assert.NotEqual(one.ServingCertificate!.SerialNumber, two.ServingCertificate!.SerialNumber);
        Assert.All([one.ServingCertificate, two.ServingCertificate], c => Assert.Equal("CN=Example Mesh Intermediate", c.Issuer));
        foreach (var replica in new[] { one, two })
        {
            // The client trusts the root only: the replica sends the intermediate in the handshake.
            using var channel = ControlPlaneChannel.Create(replica.GrpcAddress, rootFile);
            var answer = await new V1.CertificateAuthority.CertificateAuthorityClient(channel).GetTrustBundleAsync(new GetTrustBundleRequest());
            Assert.Contains(root.ExportCertificatePem().Trim(), answer.TrustBundlePem);
        }
        using var admin = new HttpClient { BaseAddress = one.AdminAddress };
        using var rotate = await admin.PostAsync("/admin/ca/rotate", null);
        Assert.Equal(HttpStatusCode.Conflict, rotate.StatusCode);
        Assert.Contains("supplied intermediate", await rotate.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task RotateEndpoint_WithoutACertificateAuthority_Answers404()
    {
        await using var server = new ControlPlaneServer(new ControlPlaneOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Admin = new IPEndPoint(IPAddress.Loopback, 0),
        }, policies: null, logging: l => l.ClearProviders());
        await server.StartAsync();
        using var admin = new HttpClient { BaseAddress = server.AdminAddress };

        using var response = await admin.PostAsync("/admin/ca/rotate", null);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("no certificate authority", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public void Options_TlsWithoutCaOrCertificate_AreRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => new ControlPlaneServer(new ControlPlaneOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Admin = new IPEndPoint(IPAddress.Loopback, 0),
            Tls = new ControlPlaneTlsOptions(),
        }, policies: null));
        Assert.Contains("needs a supplied certificate and key, or the certificate authority", error.Message);
    }
}
