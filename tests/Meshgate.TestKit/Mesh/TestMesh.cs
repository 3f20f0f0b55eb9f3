using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Meshgate.Mesh.CertificateAuthority;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.V1;
using Meshgate.Proxy.Mesh;
using Microsoft.Extensions.Logging;
using CaClient = Meshgate.Mesh.V1.CertificateAuthority.CertificateAuthorityClient;

namespace Meshgate.TestKit.Mesh;

/// <summary>
/// A real control plane with its certificate authority on 127.0.0.1 (gRPC over h2c, or TLS with a serving certificate from
/// its own CA when started with tls: true; port 0 unless a port is given),
/// a root made in a scratch directory, and one bootstrap token per known service. Workload certificates come from
/// the CA's real gRPC Sign call (<see cref="IssueIdentityAsync"/>); tokens are written to files for a mesh: section.
/// </summary>
public sealed class TestMesh : IAsyncDisposable
{
    /// <summary>Services that get a bootstrap token unless the test names its own.</summary>
    public static readonly string[] DefaultServices = ["frontend", "orders", "payments", "gateway", "intruder"];

    private readonly CertificateAuthorityOptions _ca;
    private readonly TimeProvider _time;
    private readonly bool _tls;
    private ControlPlaneServer? _server;

    /// <summary>Whether the control plane saves its registry to a state file in <see cref="Directory"/> and restores it on restart.</summary>
    public bool KeepsState { get; private init; }

    private TestMesh(string directory, CertificateAuthorityOptions ca, TimeProvider time, bool tls)
    {
        Directory = directory;
        _ca = ca;
        _time = time;
        _tls = tls;
    }

    /// <summary>With TLS: the trust bundle file the control plane writes (mesh.controlPlaneCa); null over h2c.</summary>
    public string? ControlPlaneCaFile => _tls ? Path.Combine(Directory, "control-plane-ca.pem") : null;

    /// <summary>Scratch directory holding the CA's root and the token files; deleted at dispose.</summary>
    public string Directory { get; }

    public string TrustDomain => _ca.TrustDomain;

    /// <summary>The control plane's gRPC address (also the CA's), e.g. http://127.0.0.1:41234/.</summary>
    public Uri ControlPlaneUrl { get; private set; } = null!;

    public ControlPlaneServer Server => _server ?? throw new InvalidOperationException("the control plane is stopped");

    /// <param name="leafLifetime">The CA's leaf lifetime (at least 5 minutes, the CA's floor); default 24 hours.</param>
    /// <param name="time">The CA's clock; the system clock by default.</param>
    /// <param name="keepState">Save the registry to a state file, so a restarted control plane still knows the instances (as `--state` does).</param>
    /// <param name="tls">Serve gRPC over TLS (as `meshgate control-plane` does by default) and write the trust bundle to <see cref="ControlPlaneCaFile"/>.</param>
    public static async Task<TestMesh> StartAsync(string trustDomain = "mesh.test", TimeSpan? leafLifetime = null, IEnumerable<string>? services = null, string @namespace = "default", TimeProvider? time = null, bool keepState = false, bool tls = false)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("meshgate-mesh-").FullName;
        var ca = new CertificateAuthorityOptions { TrustDomain = trustDomain, StateDirectory = Path.Combine(directory, "ca") };
        if (leafLifetime is { } lifetime)
        {
            ca.LeafLifetime = lifetime;
            if (ca.RotationOverlap < lifetime) ca.RotationOverlap = lifetime;
        }
        foreach (var service in services ?? DefaultServices) ca.Tokens.Add(new BootstrapToken(@namespace, service, BootstrapToken.Hash(TokenOf(service, @namespace))));
        var mesh = new TestMesh(directory, ca, time ?? TimeProvider.System, tls) { KeepsState = keepState };
        await mesh.StartControlPlaneAsync(new IPEndPoint(IPAddress.Loopback, 0));
        return mesh;
    }

    /// <summary>The bootstrap token of a service (the CA knows its hash).</summary>
    public static string TokenOf(string service, string @namespace = "default") => $"token-{@namespace}-{service}-0123456789abcdef";

    /// <summary>A file holding the service's bootstrap token, for mesh.tokenFile.</summary>
    public string TokenFile(string service, string @namespace = "default")
    {
        var path = Path.Combine(Directory, $"{@namespace}.{service}.token");
        File.WriteAllText(path, TokenOf(service, @namespace) + "\n");
        return path;
    }

    public string SpiffeIdOf(string service, string @namespace = "default") => $"spiffe://{TrustDomain}/ns/{@namespace}/sa/{service}";

    /// <summary>A mesh: section (YAML, two-space indented under "mesh:") for <paramref name="service"/> with its token file.</summary>
    public string MeshYaml(string service, string @namespace = "default") =>
        $"mesh:\n  controlPlane: {ControlPlaneUrl}\n  service: {service}\n  namespace: {@namespace}\n  tokenFile: {TokenFile(service, @namespace)}\n"
        + (ControlPlaneCaFile is { } ca ? $"  controlPlaneCa: {ca}\n" : "");

    /// <summary>
    /// An in-process sidecar of <paramref name="service"/> on this mesh (its inbound, outbound and admin listeners on port
    /// 0), started and past its first snapshot; <paramref name="configure"/> changes anything else (service ports, mode,
    /// forwarder). The caller disposes it; a sidecar that fails to start is disposed here.
    /// </summary>
    public async Task<Meshgate.Roles.Sidecar.SidecarHost> StartSidecarAsync(string service, int appPort, Func<Meshgate.Mesh.Sidecar.SidecarOptions, Meshgate.Mesh.Sidecar.SidecarOptions>? configure = null)
    {
        var options = new Meshgate.Mesh.Sidecar.SidecarOptions
        {
            Service = service,
            AppPort = appPort,
            ControlPlane = ControlPlaneUrl.ToString(),
            ControlPlaneCa = ControlPlaneCaFile,
            TokenFile = TokenFile(service),
            Inbound = "127.0.0.1:0",
            Outbound = "127.0.0.1:0",
            Admin = "127.0.0.1:0",
        };
        var sidecar = Meshgate.Roles.Sidecar.SidecarHost.Create(configure is null ? options : configure(options));
        try
        {
            await sidecar.StartAsync();
            await sidecar.FirstSnapshotApplied.WaitAsync(TimeSpan.FromSeconds(20));
            return sidecar;
        }
        catch
        {
            await sidecar.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the control plane (CA included): workloads asking now find nobody listening.</summary>
    public async Task StopControlPlaneAsync()
    {
        if (_server is null) return;
        await _server.StopAsync();
        await _server.DisposeAsync();
        _server = null;
    }

    /// <summary>Starts the control plane again on the same port, with the same root (the CA's state directory is kept).</summary>
    public Task RestartControlPlaneAsync() => StartControlPlaneAsync(new IPEndPoint(IPAddress.Loopback, ControlPlaneUrl.Port));

    private async Task StartControlPlaneAsync(IPEndPoint listen)
    {
        var server = new ControlPlaneServer(new ControlPlaneOptions
        {
            Listen = listen,
            Admin = new IPEndPoint(IPAddress.Loopback, 0),
            CertificateAuthority = _ca,
            StatePath = KeepsState ? Path.Combine(Directory, "control-plane-state.json") : null,
            Coalesce = TimeSpan.FromMilliseconds(20),
            Time = _time,
            Tls = _tls ? new Meshgate.Mesh.ControlPlane.Tls.ControlPlaneTlsOptions() : null,
            TrustBundleFile = ControlPlaneCaFile,
        }, policies: null, logging: l => l.ClearProviders());
        await server.StartAsync();
        _server = server;
        ControlPlaneUrl = server.GrpcAddress;
    }

    /// <summary>A workload certificate for <paramref name="service"/>, signed over the CA's gRPC Sign with the service's token.</summary>
    public async Task<StaticWorkloadIdentity> IssueIdentityAsync(string service, string @namespace = "default")
    {
        using var channel = Meshgate.Mesh.ControlPlane.Client.ControlPlaneChannel.Create(ControlPlaneUrl, ControlPlaneCaFile);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest($"CN={service}", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        var signed = await new CaClient(channel).SignAsync(new SignRequest { Csr = ByteString.CopyFrom(csr), BootstrapToken = TokenOf(service, @namespace) });
        using var leaf = X509Certificate2.CreateFromPem(signed.CertificatePem);
        using var withKey = leaf.CopyWithPrivateKey(key);
        // Through PKCS#12 in memory, so SslStream can use the key on every platform.
        var usable = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        var chain = new X509Certificate2Collection();
        if (signed.ChainPem.Length > 0) chain.ImportFromPem(signed.ChainPem);
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPem(signed.TrustBundlePem);
        return new StaticWorkloadIdentity(usable, chain, bundle, signed.SpiffeId);
    }

    /// <summary>
    /// A client certificate signed directly with the CA's root (read from its state directory), with the URI SANs given
    /// or none: for a certificate the mesh's CA would never issue (no SPIFFE id, another trust domain).
    /// </summary>
    public X509Certificate2 IssueFromRoot(string commonName, params string[] uris)
    {
        var crt = System.IO.Directory.GetFiles(Path.Combine(_ca.StateDirectory!, "roots"), "*.crt").Order(StringComparer.Ordinal).Last();
        using var root = X509Certificate2.CreateFromPemFile(crt, Path.ChangeExtension(crt, ".key"));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        if (uris.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var uri in uris) san.AddUri(new Uri(uri));
            request.CertificateExtensions.Add(san.Build());
        }
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var leaf = request.Create(root, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1), RandomNumberGenerator.GetBytes(16));
        using var withKey = leaf.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>
    /// A client that presents <paramref name="identity"/>'s certificate (or none) and trusts a server whose certificate
    /// chains to <paramref name="trust"/> (default: the identity's bundle). Every request opens a new connection unless
    /// <paramref name="keepAlive"/>.
    /// </summary>
    public static HttpClient Client(IWorkloadIdentity? identity, X509Certificate2Collection? trust = null, bool keepAlive = true, Action<string?>? serverSerial = null)
    {
        var roots = trust ?? identity?.TrustBundle ?? throw new ArgumentException("give an identity or a trust bundle");
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = keepAlive ? Timeout.InfiniteTimeSpan : TimeSpan.Zero,
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = identity is null ? null : [identity.Certificate],
                // Always offer the identity's certificate, whatever CA names the server lists, so the server decides.
                LocalCertificateSelectionCallback = identity is null ? null : (_, _, _, _, _) => identity.Certificate,
                // The mesh's servers are named by SPIFFE id, not host name: check the chain only.
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is not X509Certificate2 presented) return false;
                    serverSerial?.Invoke(presented.SerialNumber);
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                    return chain.Build(presented);
                },
            },
        };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
    }

    public async ValueTask DisposeAsync()
    {
        await StopControlPlaneAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A scratch directory left behind in /tmp is harmless.
        }
    }
}

/// <summary>A workload identity fixed at creation (a test's peer, or a gateway given an identity without a control plane).</summary>
public sealed class StaticWorkloadIdentity(X509Certificate2 certificate, X509Certificate2Collection chain, X509Certificate2Collection trustBundle, string spiffeId) : IWorkloadIdentity
{
    public X509Certificate2 Certificate => certificate;
    public X509Certificate2Collection Chain => chain;
    public X509Certificate2Collection TrustBundle => trustBundle;
    public string SpiffeId => spiffeId;
    public string SpiffeIdOf(string service, string ns) => $"spiffe://{new Uri(spiffeId).Host}/ns/{ns}/sa/{service}";
}
