using System.Net;
using Meshgate.Mesh.V1;
using Meshgate.Proxy.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Meshgate.Mesh.ControlPlane;

/// <summary>Process-level settings of the control plane (from the command line).</summary>
public sealed record ControlPlaneOptions
{
    /// <summary>The gRPC listener: TLS with <see cref="Tls"/>, otherwise h2c (HTTP/2 without TLS).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 15010);

    /// <summary>The admin HTTP listener; loopback by default because it has no authentication.</summary>
    public IPEndPoint Admin { get; init; } = new(IPAddress.Loopback, 15011);

    /// <summary>How long an instance stays registered without a heartbeat.</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often expired leases are swept; defaults to a tenth of the TTL, at most a second.</summary>
    public TimeSpan? SweepInterval { get; init; }

    /// <summary>Changes within this window become one snapshot version.</summary>
    public TimeSpan Coalesce { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The state file (registrations, policies, version), or null to keep state in memory only.</summary>
    public string? StatePath { get; init; }

    /// <summary>
    /// Keep registrations and policies in etcd instead of memory, so several replicas serve one mesh; exclusive with
    /// <see cref="StatePath"/>. With a certificate authority, every replica must sign with the same supplied intermediate.
    /// </summary>
    public Etcd.EtcdStoreOptions? Etcd { get; init; }

    /// <summary>The certificate authority served on the gRPC listener beside the registry; null serves none.</summary>
    public CertificateAuthority.CertificateAuthorityOptions? CertificateAuthority { get; init; }

    /// <summary>
    /// TLS on the gRPC listener; null serves h2c (plaintext: bootstrap tokens and registrations readable on the wire, for
    /// tests and demos). Without a supplied certificate it needs <see cref="CertificateAuthority"/>, which issues one.
    /// </summary>
    public Tls.ControlPlaneTlsOptions? Tls { get; init; }

    /// <summary>A file the CA's trust bundle (PEM) is written to at start and after each root rotation, for workloads' mesh.controlPlaneCa.</summary>
    public string? TrustBundleFile { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// The control plane's servers: the Registry and Distribution gRPC services on the listen address and the admin API on
/// the admin address, over one registry and one snapshot hub. The `control-plane` command and tests start it alike.
/// </summary>
public sealed class ControlPlaneServer : IAsyncDisposable
{
    private readonly WebApplication _grpc;
    private readonly WebApplication _admin;
    private readonly ITimer? _sweep;
    private readonly StateFile? _state;
    private readonly Etcd.EtcdMeshStore? _etcd;
    private readonly ILogger _logger;
    private readonly Tls.ServingCertificate? _serving;
    private readonly string? _trustBundleFile;
    private volatile bool _ready;
    private int _disposed;

    /// <param name="policies">The policies file's content; null keeps the policies saved in the state file (or none).</param>
    /// <exception cref="InvalidDataException">The state file exists but cannot be read.</exception>
    /// <exception cref="ArgumentException">The options combine a state file with etcd, or etcd with a self-made CA root.</exception>
    public ControlPlaneServer(ControlPlaneOptions options, MeshPolicies? policies, Action<ILoggingBuilder>? logging = null)
    {
        if (options.Etcd is not null && options.StatePath is not null)
            throw new ArgumentException("a state file and the etcd store are exclusive: with etcd the registry and the policies live in etcd", nameof(options));
        if (options.Etcd is not null && options.CertificateAuthority is { IntermediateCertificateFile: null })
            throw new ArgumentException("with the etcd store the certificate authority needs a supplied intermediate (every replica must sign with the same CA), not a self-made root in a state directory", nameof(options));
        if (options.Tls is { CertificateFile: null } && options.CertificateAuthority is null)
            throw new ArgumentException("TLS on the gRPC listener needs a supplied certificate and key, or the certificate authority to issue one", nameof(options));
        if (options.Tls is { } suppliedTls && (suppliedTls.CertificateFile is null) != (suppliedTls.KeyFile is null))
            throw new ArgumentException("a supplied TLS certificate needs both its certificate file and its key file", nameof(options));
        if (options.TrustBundleFile is not null && options.CertificateAuthority is null)
            throw new ArgumentException("a trust bundle file is written from the certificate authority's roots: it needs the certificate authority", nameof(options));
        _trustBundleFile = options.TrustBundleFile;
        Registry = new ServiceRegistry(options.Ttl, options.Time);
        StateFile.State? saved = null;
        if (options.Etcd is null)
        {
            _state = options.StatePath is null ? null : new StateFile(options.StatePath);
            saved = _state?.Load();
            if (saved is not null)
            {
                foreach (var i in saved.Instances) Registry.Restore(new RegisteredInstance(i.Service, i.InstanceId, i.Address, i.Port, i.Labels, default));
            }
            // The version goes on from the saved one, so a proxy that saw version 7 before a restart never sees 7 again for other content.
            Hub = new SnapshotHub(Registry, policies ?? (saved is null ? null : _state!.PoliciesOf(saved)) ?? new MeshPolicies(), (saved?.Version ?? 0) + 1, options.Coalesce);
        }
        else
        {
            // Version 0 until the store is loaded; StartAsync waits for the first real version before serving.
            Hub = new SnapshotHub(Registry, new MeshPolicies(), 0, options.Coalesce, () => _etcd!.Revision);
        }

        if (options.Tls is { } tls)
        {
            // The CA is resolved from the host built below, at the first handshake (the host has started by then).
            _serving = new Tls.ServingCertificate(tls, () => _grpc?.Services.GetService<CertificateAuthority.MeshCertificateAuthority>(), options.Time);
        }
        var grpcBuilder = MeshgateWebApplication.CreateBuilder();
        logging?.Invoke(grpcBuilder.Logging);

        grpcBuilder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(options.Listen, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                // Chosen per handshake: a renewed or re-issued serving certificate applies to the next connection.
                if (_serving is { } serving)
                {
                    l.UseHttps(new Microsoft.AspNetCore.Server.Kestrel.Https.TlsHandshakeCallbackOptions
                    {
                        OnConnection = _ => ValueTask.FromResult(new System.Net.Security.SslServerAuthenticationOptions { ServerCertificateContext = serving.Context }),
                    });
                }
            });
        });
        grpcBuilder.Services.AddGrpc();
        grpcBuilder.Services.AddSingleton(Registry);
        grpcBuilder.Services.AddSingleton(Hub);
        grpcBuilder.Services.AddSingleton<IMeshStore>(_ => Store!); // set below, before any call can resolve it
        if (options.CertificateAuthority is { } ca)
        {
            grpcBuilder.Services.AddSingleton(options.Time);
            CertificateAuthority.CertificateAuthorityServiceCollectionExtensions.AddMeshCertificateAuthority(grpcBuilder.Services, ca);
        }
        _grpc = grpcBuilder.Build();
        _grpc.MapGrpcService<RegistryGrpcService>();
        _grpc.MapGrpcService<DistributionGrpcService>();
        if (options.CertificateAuthority is not null) CertificateAuthority.CertificateAuthorityServiceCollectionExtensions.MapMeshCertificateAuthority(_grpc);
        _logger = _grpc.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Meshgate.Mesh.ControlPlane");
        if (_serving is not null) _serving.Logger = _grpc.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Meshgate.Mesh.ControlPlane.Tls");
        if (saved is not null) ControlPlaneLog.Restored(_logger, saved.Instances.Count, saved.Version, _state!.Path);
        Hub.Published += OnPublished;
        if (_state is not null) Save(Hub.Current);
        if (options.Etcd is { } etcd)
        {
            _etcd = new Etcd.EtcdMeshStore(etcd, Registry, Hub, policies, options.Time, _grpc.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Meshgate.Mesh.ControlPlane.Etcd"));
            Store = _etcd;
        }
        else
        {
            Store = new EmbeddedMeshStore(Registry, Hub);
        }

        var adminBuilder = MeshgateWebApplication.CreateBuilder();
        logging?.Invoke(adminBuilder.Logging);
        adminBuilder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(options.Admin);
        });
        _admin = adminBuilder.Build();
        MapAdmin(_admin);

        // With etcd, etcd expires the leases; the registry only mirrors what it holds.
        var sweep = options.SweepInterval ?? TimeSpan.FromTicks(Math.Min(options.Ttl.Ticks / 10, TimeSpan.TicksPerSecond));
        if (options.Etcd is null) _sweep = options.Time.CreateTimer(_ => Sweep(), null, sweep, sweep);
    }

    /// <summary>What the snapshots are built from: the registrations (with etcd, a mirror of etcd's).</summary>
    public ServiceRegistry Registry { get; }

    /// <summary>Where registrations and policies are kept: embedded, or etcd.</summary>
    public IMeshStore Store { get; }

    public SnapshotHub Hub { get; }

    /// <summary>The gRPC address as bound (port 0 resolved), e.g. http://127.0.0.1:15010.</summary>
    public Uri GrpcAddress => AddressOf(_grpc);

    public Uri AdminAddress => AddressOf(_admin);

    /// <exception cref="MeshStoreUnavailableException">The etcd store cannot be reached at start.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await Store.StartAsync(cancellationToken);
        if (_etcd is not null)
        {
            // No proxy may see version 0 (nothing) while the hub builds the first snapshot of what etcd holds.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (Hub.Current.Version < _etcd.Revision && DateTime.UtcNow < deadline) await Task.Delay(10, cancellationToken);
        }
        await _grpc.StartAsync(cancellationToken);
        // However it stops (StopAsync, SIGTERM): a stopping control plane refuses heartbeats, so its own sweep would
        // expire every lease while the listener drains and push an empty mesh to the proxies still watching.
        _grpc.Lifetime.ApplicationStopping.Register(() => _sweep?.Dispose());
        // The first serving certificate now, so a CA that cannot issue stops the start rather than the first handshake.
        _ = _serving?.Certificate;
        WriteTrustBundle();
        await _admin.StartAsync(cancellationToken);
        _ready = true;
    }

    /// <summary>Serves until SIGTERM/SIGINT stops the gRPC host, then stops the admin API.</summary>
    public async Task RunUntilShutdownAsync()
    {
        await _grpc.WaitForShutdownAsync();
        _ready = false;
        await _admin.StopAsync();
    }

    /// <summary>Re-reads the policies file; a bad file changes nothing (the errors are logged and returned).</summary>
    public IReadOnlyList<PolicyError> ReloadPolicies(string path)
    {
        var result = MeshPolicyFile.Load(path);
        if (result.Policies is null)
        {
            ControlPlaneLog.PoliciesRejected(_logger, path, string.Join("; ", result.Errors));
            return result.Errors;
        }
        try
        {
            Store.SetPoliciesAsync(result.Policies, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (MeshStoreUnavailableException e)
        {
            ControlPlaneLog.PoliciesRejected(_logger, path, e.Message);
            return [new PolicyError(e.Message, "", 0)];
        }
        ControlPlaneLog.PoliciesReloaded(_logger, path, result.Policies.Services.Count);
        return [];
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        _ready = false;
        await _grpc.StopAsync(cancellationToken);
        await _admin.StopAsync(cancellationToken);
    }

    /// <summary>The certificate the gRPC listener serves now; null without TLS.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ServingCertificate => _serving?.Certificate;

    /// <summary>
    /// Rotates the CA's self-made root (see <see cref="CertificateAuthority.MeshCertificateAuthority.RotateRoot"/>), re-issues
    /// the serving certificate from the new root and rewrites the trust bundle file.
    /// </summary>
    /// <exception cref="InvalidOperationException">No CA, or a CA that signs with a supplied intermediate.</exception>
    public System.Security.Cryptography.X509Certificates.X509Certificate2 RotateRoot()
    {
        var ca = _grpc.Services.GetService<CertificateAuthority.MeshCertificateAuthority>()
            ?? throw new InvalidOperationException("this control plane has no certificate authority");
        var root = ca.RotateRoot();
        _serving?.Renew();
        WriteTrustBundle();
        return root;
    }

    private void WriteTrustBundle()
    {
        if (_trustBundleFile is null) return;
        var roots = _grpc.Services.GetRequiredService<CertificateAuthority.MeshCertificateAuthority>().TrustBundle();
        // Unwritable: the start fails (IOException), a rotation answers 500; either way the reason is in the message.
        Tls.TrustBundleFile.Write(_trustBundleFile, roots);
        ControlPlaneLog.TrustBundleWritten(_logger, _trustBundleFile, roots.Count);
    }

    private void Sweep()
    {
        var expired = Registry.ExpireDue();
        if (expired > 0) ControlPlaneLog.Expired(_logger, expired);
    }

    private void OnPublished(MeshSnapshot snapshot)
    {
        ControlPlaneLog.Published(_logger, snapshot.Version, snapshot.Services.Count);
        if (_state is not null) Save(snapshot);
    }

    private void Save(MeshSnapshot snapshot)
    {
        try
        {
            _state!.Save(snapshot, Registry.Instances);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ControlPlaneLog.StateWriteFailed(_logger, e, _state!.Path);
        }
    }

    private void MapAdmin(WebApplication admin)
    {
        admin.MapGet("/admin/health/ready", () => (_ready, Store.NotReadyReason) switch
        {
            (false, _) => Results.Text("not ready\n", statusCode: 503),
            (true, { } reason) => Results.Text($"not ready: {reason}\n", statusCode: 503),
            _ => Results.Text("ready\n"),
        });
        // Handlers name their answers' types through the helpers below, never the context's generated properties:
        // the request-delegate generator does not see the JSON generator's output and would lose the return type.
        admin.MapGet("/admin/services", () => Json(new ServicesView(
            Hub.Current.Version,
            Registry.Ttl.TotalSeconds,
            Registry.Instances.GroupBy(i => i.Service, StringComparer.Ordinal).Select(g => new ServiceView(
                g.Key,
                // With etcd the lease lives in etcd and any replica renews it: this replica cannot tell when it runs out.
                g.Select(i => new ServiceInstanceView(i.InstanceId, i.Address, i.Port, i.Labels, _etcd is null ? i.ExpiresAt : null)))))));
        admin.MapPost("/admin/ca/rotate", (HttpContext context) =>
        {
            // The admin API has no authentication: a rotation is taken from this host only, whatever the listen address.
            if (context.Connection.RemoteIpAddress is not { } remote || !IPAddress.IsLoopback(remote))
                return Error("root rotation is only accepted from loopback", 403);
            var ca = _grpc.Services.GetService<CertificateAuthority.MeshCertificateAuthority>();
            if (ca is null) return Error("this control plane has no certificate authority", 404);
            if (!ca.OwnsRoots) return Error("the CA signs with a supplied intermediate: rotate by replacing its files and restarting", 409);
            var root = RotateRoot();
            return Json(new RootRotationView(
                new CertificateView(root.Subject, root.Thumbprint, new DateTimeOffset(root.NotAfter.ToUniversalTime())),
                ca.TrustBundle().Select(r => new TrustedRootView(r.Subject, r.Thumbprint)),
                _serving is null ? null : new ServingCertificateView(_serving.Certificate.SerialNumber, _serving.Certificate.Issuer),
                _trustBundleFile));
        });
        admin.MapGet("/admin/proxies", () => Json(new ProxiesView(
            Hub.Current.Version,
            Hub.Proxies.Select(p =>
            {
                lock (p)
                {
                    return new ProxyView(p.ProxyId, p.Kind, p.Connected, p.VersionSent, p.VersionAcked, p.LastNackVersion, p.LastNackReason);
                }
            }).ToList())));
    }

    private static IResult Json(ServicesView value) => Results.Json(value, MeshJsonContext.Default.ServicesView);

    private static IResult Json(RootRotationView value) => Results.Json(value, MeshJsonContext.Default.RootRotationView);

    private static IResult Json(ProxiesView value) => Results.Json(value, MeshJsonContext.Default.ProxiesView);

    private static IResult Error(string error, int statusCode) => Results.Json(new AdminErrorView(error), MeshJsonContext.Default.AdminErrorView, statusCode: statusCode);

    private static Uri AddressOf(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address.Replace("[::]", "localhost", StringComparison.Ordinal));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _ready = false;
        if (_sweep is not null) await _sweep.DisposeAsync();
        await _grpc.DisposeAsync();
        await _admin.DisposeAsync();
        await Store.DisposeAsync();
        await Hub.DisposeAsync();
    }
}
