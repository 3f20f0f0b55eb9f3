using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Meshgate.Configuration;
using Meshgate.Configuration.Parsing;
using Meshgate.Hosting;
using Meshgate.Mesh.CertificateAuthority;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.ControlPlane.Tls;
using Meshgate.Mesh.Sidecar;
using Meshgate.Mesh.V1;
using Meshgate.Roles.Edge;
using Meshgate.Roles.Sidecar;

namespace Meshgate.Demo;

/// <summary>
/// `meshgate demo --mesh`: a whole mesh on 127.0.0.1 in this one process: a control plane (CA with a fresh root and
/// bootstrap tokens made for this run, gRPC over TLS as by default), the apps frontend → orders → payments each with its
/// own sidecar (inbound mTLS strict, outbound HTTP proxy), and a gateway in front as mesh ingress. One process rather
/// than five: it starts in seconds (one runtime), every bound port is known without parsing children's logs, and
/// nothing can be left running after Ctrl+C or a crash. Each part is still the real thing, on its own listeners,
/// talking to the others only over TCP as separate processes would.
/// </summary>
internal sealed class MeshDemo : IAsyncDisposable
{
    public const string TrustDomain = "mesh.local";
    public const string Namespace = "demo";
    public const string GatewayService = "gateway";

    /// <summary>The demo's services, each calling the next one.</summary>
    public static readonly string[] Services = ["frontend", "orders", "payments"];

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private readonly string _directory = Directory.CreateTempSubdirectory("meshgate-demo-mesh-").FullName;
    private readonly LogSetup _logs = new() { Level = LogLevel.Warning };

    /// <summary>Errors only: the control plane warns when it makes a new root, which the demo does on every run by design.</summary>
    private readonly LogSetup _controlPlaneLogs = new() { Level = LogLevel.Error };
    private readonly List<(MeshDemoApp App, SidecarHost Sidecar)> _services = [];
    private readonly Dictionary<string, string> _tokens = [];
    private ControlPlaneServer? _controlPlane;
    private GatewayHost? _gateway;

    private MeshDemo()
    {
    }

    public ControlPlaneServer ControlPlane => _controlPlane!;

    public GatewayHost Gateway => _gateway!;

    /// <summary>The ingress gateway's public listener.</summary>
    public Uri GatewayUrl => Gateway.ListenerUrls[0].Url;

    /// <summary>Each service's app and sidecar, in call order (frontend first).</summary>
    public IEnumerable<(MeshDemoApp App, SidecarHost Sidecar)> Parts => _services.OrderBy(s => Array.IndexOf(Services, s.App.Service));

    /// <summary>
    /// Starts every part and waits until GET /frontend answers through the whole chain. A failure (a port in use, a part
    /// that does not come up) stops what was started and throws <see cref="MeshDemoStartException"/> with one line saying why.
    /// </summary>
    public static async Task<MeshDemo> StartAsync(int port, int adminPort, CancellationToken cancellationToken)
    {
        // Checked first, so a port in use is said plainly before five servers start, rather than as a bind failure at the end.
        CheckFree(port, "--port");
        CheckFree(adminPort, "--admin-port");
        var demo = new MeshDemo();
        try
        {
            await demo.StartControlPlaneAsync(cancellationToken);
            // Callees first: when a caller's sidecar gets its first snapshot, the service it calls is already in it.
            for (var i = Services.Length - 1; i >= 0; i--)
            {
                await demo.StartServiceAsync(Services[i], i + 1 < Services.Length ? Services[i + 1] : null, cancellationToken);
            }
            await demo.StartGatewayAsync(port, adminPort, cancellationToken);
            await demo.WaitForChainAsync(cancellationToken);
            return demo;
        }
        catch (Exception e) when (e is not OperationCanceledException and not MeshDemoStartException)
        {
            await demo.DisposeAsync();
            throw new MeshDemoStartException(e.Message, e);
        }
        catch
        {
            await demo.DisposeAsync();
            throw;
        }
    }

    private static void CheckFree(int port, string option)
    {
        if (port == 0) return;
        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            // As Kestrel binds (on Linux and macOS): a port only in TIME_WAIT from the last run is free, a listening one is not.
            if (!OperatingSystem.IsWindows()) probe.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new MeshDemoStartException($"127.0.0.1:{port} ({option}) is already in use: stop what listens there or choose another port with {option}");
        }
    }

    private async Task StartControlPlaneAsync(CancellationToken cancellationToken)
    {
        var ca = new CertificateAuthorityOptions { TrustDomain = TrustDomain, StateDirectory = Path.Combine(_directory, "ca") };
        foreach (var service in Services.Append(GatewayService))
        {
            // A fresh secret per run; the CA keeps only its hash, as with --ca-tokens-file.
            var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
            _tokens[service] = WriteSecret($"{service}.token", token);
            ca.Tokens.Add(new BootstrapToken(Namespace, service, BootstrapToken.Hash(token)));
        }
        _controlPlane = new ControlPlaneServer(new ControlPlaneOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Admin = new IPEndPoint(IPAddress.Loopback, 0),
            CertificateAuthority = ca,
            Tls = new ControlPlaneTlsOptions(),
            TrustBundleFile = ControlPlaneCaFile,
        }, Policies(), logging => _controlPlaneLogs.Apply(logging, Configuration.Model.LogFormat.Json));
        await StartOrDisposeAsync(_controlPlane.StartAsync(cancellationToken), _controlPlane, () => _controlPlane = null);
    }

    /// <summary>A part whose start failed is disposed at once and forgotten: <see cref="DisposeAsync"/> stops only parts that started.</summary>
    private static async Task StartOrDisposeAsync(Task start, IAsyncDisposable part, Action forget)
    {
        try
        {
            await start;
        }
        catch
        {
            forget();
            await part.DisposeAsync();
            throw;
        }
    }

    private string ControlPlaneCaFile => Path.Combine(_directory, "control-plane-ca.pem");

    /// <summary>Each service may be called only by the one before it (the gateway calls frontend): the mesh's allow rules at work.</summary>
    private static MeshPolicies Policies()
    {
        var policies = new MeshPolicies();
        string[] callers = [GatewayService, .. Services];
        foreach (var (callee, index) in Services.Select((s, i) => (s, i)).OrderBy(p => p.s, StringComparer.Ordinal))
        {
            policies.Services.Add(new ServicePolicy { Service = callee, Allow = { new AllowRule { CallerService = callers[index], CalleeService = callee } } });
        }
        return policies;
    }

    private string WriteSecret(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var writer = new StreamWriter(path, options);
        writer.Write(content);
        return path;
    }

    private async Task StartServiceAsync(string service, string? next, CancellationToken cancellationToken)
    {
        var app = await MeshDemoApp.StartAsync(service, next);
        SidecarHost? sidecar = null;
        try
        {
            sidecar = SidecarHost.Create(new SidecarOptions
            {
                Service = service,
                Namespace = Namespace,
                AppPort = app.Url.Port,
                ControlPlane = ControlPlane.GrpcAddress.ToString(),
                ControlPlaneCa = ControlPlaneCaFile,
                TokenFile = _tokens[service],
                Inbound = "127.0.0.1:0",
                Outbound = "127.0.0.1:0",
                Admin = "127.0.0.1:0",
                InstanceId = $"{service}-1",
                LogLevel = Configuration.Model.LogLevelName.Warning,
            }, _logs);
            await sidecar.StartAsync(cancellationToken);
        }
        catch
        {
            // Not yet in _services: a part that did not start is disposed here, never stopped.
            if (sidecar is not null) await sidecar.DisposeAsync();
            await app.DisposeAsync();
            throw;
        }
        _services.Add((app, sidecar));
        try
        {
            await sidecar.FirstSnapshotApplied.WaitAsync(StartTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new MeshDemoStartException($"{service}'s sidecar got no mesh snapshot from the control plane within {StartTimeout.TotalSeconds:0} s");
        }
        app.UseSidecar(sidecar.ListenerUrl(SidecarConfig.OutboundListener));
    }

    private async Task StartGatewayAsync(int port, int adminPort, CancellationToken cancellationToken)
    {
        var result = ConfigLoader.Load(GatewayYaml(port, adminPort), "meshgate demo --mesh", _directory);
        if (result.Snapshot is not { } snapshot)
        {
            // The YAML is the demo's own: an error here is a bug, said in full.
            throw new InvalidOperationException("the demo's gateway config is invalid: " + string.Join("; ", result.Errors));
        }
        _gateway = GatewayHost.Create(snapshot, () => result, logs: _logs);
        await StartOrDisposeAsync(_gateway.StartAsync(cancellationToken), _gateway, () => _gateway = null);
    }

    /// <summary>The ingress gateway's config: itself in the mesh as "gateway", /frontend to the frontend service's instances.</summary>
    private string GatewayYaml(int port, int adminPort) => $"""
        listeners:
          - name: public
            address: 127.0.0.1:{port}
        admin:
          address: 127.0.0.1:{adminPort}
        logging:
          level: warning
        mesh:
          controlPlane: {Q(ControlPlane.GrpcAddress.ToString())}
          controlPlaneCa: {Q(ControlPlaneCaFile)}
          service: {GatewayService}
          namespace: {Namespace}
          tokenFile: {Q(_tokens[GatewayService])}
        routes:
          - id: frontend
            match: {"{"} pathPrefix: /frontend {"}"}
            cluster: frontend
        clusters:
          - id: frontend
            discovery: mesh
            service: frontend
        """;

    private static string Q(string value) => YamlNodes.Quoted(value);

    /// <summary>
    /// Until every sidecar has the snapshot with the service it calls and the gateway has frontend's instance, a request
    /// may get 404 or 503; the demo says it runs only once the first curl the user tries will work.
    /// </summary>
    private async Task WaitForChainAsync(CancellationToken cancellationToken)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var deadline = DateTime.UtcNow + StartTimeout;
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await client.GetAsync(new Uri(GatewayUrl, "/frontend"), cancellationToken);
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}";
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }
            await Task.Delay(100, cancellationToken);
        }
        throw new MeshDemoStartException($"GET /frontend did not answer through the mesh within {StartTimeout.TotalSeconds:0} s; its last answer: {last}");
    }

    /// <summary>Runs until Ctrl+C (SIGINT/SIGTERM, or <paramref name="cancellationToken"/>) stops the gateway.</summary>
    public async Task RunUntilShutdownAsync(CancellationToken cancellationToken)
    {
        await using var stop = cancellationToken.Register(() => Gateway.Gateway.Lifetime.StopApplication());
        await Gateway.RunUntilShutdownAsync();
    }

    /// <summary>Stops in the order traffic flows: the gateway, then each sidecar (deregistering) before its app, the control plane last.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_gateway is not null)
        {
            await _gateway.StopAsync();
            await _gateway.DisposeAsync();
        }
        foreach (var (app, sidecar) in Parts.ToList())
        {
            await sidecar.StopAsync();
            await sidecar.DisposeAsync();
            await app.DisposeAsync();
        }
        _services.Clear();
        if (_controlPlane is not null)
        {
            await _controlPlane.StopAsync();
            await _controlPlane.DisposeAsync();
        }
        // After every part that logs through them (LogSetup).
        _logs.Dispose();
        _controlPlaneLogs.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A scratch directory left in the temp folder holds only this run's throw-away root and tokens.
        }
    }
}

/// <summary>The mesh demo could not start; the message is the one line to print.</summary>
internal sealed class MeshDemoStartException(string message, Exception? inner = null) : Exception(message, inner);
