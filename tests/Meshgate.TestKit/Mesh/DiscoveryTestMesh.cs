using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Meshgate.Mesh.CertificateAuthority;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.V1;
using Meshgate.Proxy.Mesh;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.TestKit.Mesh;

/// <summary>
/// A mesh for discovery tests: a real control plane (registry, distribution, CA) on 127.0.0.1 port 0 with its state in
/// a temp directory (so it can be stopped and started again on the same port with its instances), a CA over the same
/// root that issues workload certificates directly, and mTLS test instances registered with it.
/// </summary>
public sealed class DiscoveryTestMesh : IAsyncDisposable
{
    public const string TrustDomain = "test.mesh";

    private readonly CertificateAuthorityOptions _caOptions;
    private readonly TimeSpan _ttl;
    private readonly List<IAsyncDisposable> _owned = [];
    private IPEndPoint? _listen;
    private IPEndPoint? _admin;

    private DiscoveryTestMesh(string directory, TimeSpan ttl)
    {
        Directory = directory;
        _ttl = ttl;
        _caOptions = new CertificateAuthorityOptions { TrustDomain = TrustDomain, StateDirectory = Path.Combine(directory, "ca") };
        Authority = new MeshCertificateAuthority(_caOptions, TimeProvider.System, NullLogger<MeshCertificateAuthority>.Instance);
        TokenFile = Path.Combine(directory, "gateway.token");
        File.WriteAllText(TokenFile, "gateway-bootstrap-token-0123456789");
    }

    public string Directory { get; }
    public MeshCertificateAuthority Authority { get; }

    /// <summary>A token file for the gateway's mesh section (the static test identity does not use it).</summary>
    public string TokenFile { get; }

    public ControlPlaneServer ControlPlane { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public Registry.RegistryClient Registry { get; private set; } = null!;

    /// <param name="ttl">The registry's lease; an instance that does not heartbeat drops out after it.</param>
    public static async Task<DiscoveryTestMesh> StartAsync(TimeSpan? ttl = null, MeshPolicies? policies = null)
    {
        var mesh = new DiscoveryTestMesh(TempDirectory.Create(), ttl ?? TimeSpan.FromSeconds(30));
        await mesh.StartControlPlaneAsync(policies);
        return mesh;
    }

    /// <summary>The gateway's mesh section, pointing at this control plane.</summary>
    public string MeshSection(string service = "gateway") =>
        $"mesh:\n  controlPlane: {ControlPlane.GrpcAddress.GetLeftPart(UriPartial.Authority)}\n  service: {service}\n  tokenFile: {TokenFile}\n";

    /// <summary>Starts the control plane (again, on the same ports, with the saved instances, after <see cref="StopControlPlaneAsync"/>).</summary>
    public async Task StartControlPlaneAsync(MeshPolicies? policies = null)
    {
        ControlPlane = new ControlPlaneServer(new ControlPlaneOptions
        {
            Listen = _listen ?? new IPEndPoint(IPAddress.Loopback, 0),
            Admin = _admin ?? new IPEndPoint(IPAddress.Loopback, 0),
            Ttl = _ttl,
            SweepInterval = TimeSpan.FromMilliseconds(50),
            Coalesce = TimeSpan.FromMilliseconds(20),
            StatePath = Path.Combine(Directory, "control-plane.json"),
            CertificateAuthority = _caOptions,
        }, policies, logging => logging.ClearProviders());
        await ControlPlane.StartAsync();
        _listen = new IPEndPoint(IPAddress.Loopback, ControlPlane.GrpcAddress.Port);
        _admin = new IPEndPoint(IPAddress.Loopback, ControlPlane.AdminAddress.Port);
        Channel = GrpcChannel.ForAddress(ControlPlane.GrpcAddress);
        Registry = new Registry.RegistryClient(Channel);
    }

    public async Task StopControlPlaneAsync()
    {
        Channel.Dispose();
        await ControlPlane.DisposeAsync();
    }

    /// <summary>A workload certificate for <paramref name="service"/>, with its private key, signed by this mesh's CA.</summary>
    public X509Certificate2 Issue(string service, string ns = "default") => IssueWith(Authority, service, ns);

    internal static X509Certificate2 IssueWith(MeshCertificateAuthority authority, string service, string ns)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest($"CN={service}", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        var issued = authority.Sign(csr, new BootstrapToken(ns, service, BootstrapToken.Hash("unused")));
        using var leaf = issued.Leaf;
        // Through PKCS#12 so the key is usable by TLS on every platform.
        using var withKey = leaf.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public X509Certificate2Collection TrustBundle => [.. Authority.TrustBundle()];

    /// <summary>The identity a gateway of <paramref name="service"/> presents, as IWorkloadIdentity.</summary>
    public RenewableTestIdentity IssueIdentity(string service = "gateway", string ns = "default") =>
        new(Issue(service, ns), TrustBundle, TrustDomain);

    /// <summary>
    /// Starts an mTLS instance presenting a certificate for <paramref name="presentAs"/> (default: its own service)
    /// and registers it as an instance of <paramref name="service"/>.
    /// </summary>
    public async Task<MeshTestInstance> StartInstanceAsync(string service, string name, string version = "v1", string? presentAs = null, MeshCertificateAuthority? otherCa = null, bool register = true)
    {
        var certificate = otherCa is null ? Issue(presentAs ?? service) : IssueWith(otherCa, presentAs ?? service, "default");
        var instance = await MeshTestInstance.StartAsync(name, certificate, TrustBundle);
        _owned.Add(instance);
        if (register) await RegisterAsync(instance, service, version);
        return instance;
    }

    public async Task RegisterAsync(MeshTestInstance instance, string service, string version = "v1") =>
        await Registry.RegisterAsync(new RegisterRequest { Service = service, InstanceId = instance.Name, Address = "127.0.0.1", Port = instance.Port, Labels = { ["version"] = version } });

    public async Task DeregisterAsync(MeshTestInstance instance) =>
        await Registry.DeregisterAsync(new DeregisterRequest { InstanceId = instance.Name });

    /// <summary>The control plane's /admin/proxies as JSON.</summary>
    public async Task<System.Text.Json.JsonElement> ProxiesAsync()
    {
        using var admin = new HttpClient { BaseAddress = ControlPlane.AdminAddress };
        return System.Text.Json.JsonDocument.Parse(await admin.GetStringAsync("/admin/proxies")).RootElement;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned) await owned.DisposeAsync();
        Channel.Dispose();
        await ControlPlane.DisposeAsync();
    }
}

/// <summary>An IWorkloadIdentity whose certificate a test can swap (a renewal), for gateways in tests.</summary>
public sealed class RenewableTestIdentity(X509Certificate2 certificate, X509Certificate2Collection trustBundle, string trustDomain) : IWorkloadIdentity
{
    public X509Certificate2 Certificate { get; set; } = certificate;
    public X509Certificate2Collection Chain { get; } = [];
    public X509Certificate2Collection TrustBundle { get; set; } = trustBundle;
    public string SpiffeId => Proxy.Authorization.AccessRuleEvaluator.SanUris(Certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single()).Single();
    public string SpiffeIdOf(string service, string ns) => $"spiffe://{trustDomain}/ns/{ns}/sa/{service}";
}

/// <summary>
/// A mesh instance as its sidecar's inbound listener looks to callers: https on 127.0.0.1 port 0 presenting a
/// workload certificate and requiring a client certificate from the mesh CA. Answers with its name in
/// <c>x-upstream</c>, the caller's SPIFFE id in <c>x-caller</c> and the HTTP version of the hop in <c>x-protocol</c>; <see cref="Behaviour"/> can delay or fail answers.
/// </summary>
public sealed class MeshTestInstance : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private MeshTestInstance(string name, WebApplication app, int port)
    {
        Name = name;
        _app = app;
        Port = port;
    }

    public string Name { get; }
    public int Port { get; }
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>The SPIFFE ids of the client certificates seen, in order.</summary>
    public ConcurrentQueue<string> Callers { get; } = new();

    /// <summary>Runs before the answer: may delay, or set a status and return true to answer with it.</summary>
    public Func<HttpContext, Task<bool>>? Behaviour { get; set; }

    public static async Task<MeshTestInstance> StartAsync(string name, X509Certificate2 certificate, X509Certificate2Collection trustBundle)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (client, _, _) => Proxy.Tls.CertificateTrust.ChainsTo(client, trustBundle, DateTimeOffset.UtcNow, Proxy.Tls.CertificateTrust.ClientAuthentication),
        })));
        var app = builder.Build();
        MeshTestInstance? self = null;
        app.Run(async context =>
        {
            Interlocked.Increment(ref self!._requests);
            var client = context.Connection.ClientCertificate;
            var caller = client is null ? "none" : string.Join(",", client.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(Proxy.Authorization.AccessRuleEvaluator.SanUris));
            self.Callers.Enqueue(caller);
            context.Response.Headers["x-upstream"] = self.Name;
            context.Response.Headers["x-caller"] = caller;
            context.Response.Headers["x-protocol"] = context.Request.Protocol;
            if (self.Behaviour is { } behaviour && await behaviour(context)) return;
            await context.Response.WriteAsync(self.Name);
        });
        await app.StartAsync();
        var port = new Uri(app.Urls.First()).Port;
        self = new MeshTestInstance(name, app, port);
        return self;
    }

    /// <summary>Stops at once: open connections are dropped, new ones refused (a dead instance).</summary>
    public async Task KillAsync()
    {
        using var now = new CancellationTokenSource();
        await now.CancelAsync();
        try { await _app.StopAsync(now.Token); } catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Collects the log lines of a host (add it to the host's ILoggerFactory), for tests that assert what the log says.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose() { }

    private sealed class Logger(LogCapture capture) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            capture._lines.Enqueue($"{logLevel} {eventId.Id} {formatter(state, exception)}");
    }
}
