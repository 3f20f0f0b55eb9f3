using System.Runtime.InteropServices;
using Meshgate.Admin.Api;
using Meshgate.Configuration;
using Meshgate.Configuration.Sources;
using Meshgate.Hosting;
using Meshgate.Listeners;
using Meshgate.Proxy.Hosting;
using Meshgate.Proxy.Observability.LiveStatistics;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Routing;
using Yarp.ReverseProxy;

namespace Meshgate.Roles.Edge;

/// <summary>
/// The gateway role: the proxy on the config's listeners and the admin API on its own listener, in
/// one process, sharing one snapshot. Tests start it in-process exactly as the command does.
/// </summary>
public sealed partial class GatewayHost : IAsyncDisposable
{
    private readonly KestrelListeners _listeners = new();
    private readonly List<IDisposable> _disposables = [];
    private readonly Configuration.Sources.Etcd.EtcdConfigSync? _source;
    private readonly bool _ownIdentity;
    // The LogSetup made here rather than given (see Create): disposed after both apps, so their last lines are written.
    private readonly LogSetup? _ownLogs;
    private volatile bool _ready;

    private GatewayHost(ConfigSnapshot snapshot, Func<ConfigLoader.Result> reload, string? watchFile, LogSetup logs, TimeProvider? time, Proxy.Mesh.IWorkloadIdentity? identity, IConfigStore? store, string meshKind,
        MeshSnapshotApplied? meshApplied, Configuration.Sources.Etcd.EtcdConfigSync? source, bool ownsLogs)
    {
        _source = source;
        if (ownsLogs) _ownLogs = logs;
        var definition = snapshot.Definition;
        logs.Level = snapshot.LogLevel;
        Snapshots = new SnapshotAccessor(snapshot);

        var builder = MeshgateWebApplication.CreateBuilder();
        logs.Apply(builder.Logging, definition.Logging.Format);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = definition.Shutdown.DrainTimeout);
        builder.WebHost.ConfigureKestrel(k => _listeners.Configure(k, snapshot.Listeners));
        // After Kestrel's own socket transport, so Kestrel takes this one for the listeners' IP endpoints.
        if (snapshot.EpollSockets)
        {
            if (definition.Sockets == Configuration.Model.SocketEngine.Uring && !Proxy.Sockets.IoUring.Allowed)
            {
                throw new InvalidOperationException($"sockets: uring needs io_uring, and this kernel refuses it (errno {Proxy.Sockets.IoUring.RefusedErrno}: " +
                    "a seccomp profile such as Docker's default, kernel.io_uring_disabled, or a kernel without it). Use sockets: auto, which sends with system calls then, or allow io_uring.");
            }
            var ringSends = snapshot.SendsThroughRing && Proxy.Sockets.IoUring.Allowed;
            builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory>(services => new Proxy.Sockets.EpollTransportFactory(
                services.GetRequiredService<ILoggerFactory>(), services.GetService<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>>(), ringSends));
        }
        // Before the features' TryAdd of the system clock, so a test's clock is the one they all read.
        if (time is not null) builder.Services.AddSingleton(time);
        // Relative paths of the mesh section (tokenFile, controlPlaneCa) are the config file's.
        var configDirectory = Path.GetDirectoryName(snapshot.SourceFile) is { Length: > 0 } directory ? Path.GetFullPath(directory) : Directory.GetCurrentDirectory();
        if (identity is not null) builder.Services.AddSingleton(identity);
        else if (definition.Mesh is { } mesh)
        {
            // This process's own workload identity from the mesh section; StartAsync waits for its first certificate.
            GatewayMesh.AddOwnIdentity(builder.Services, mesh, configDirectory);
            _ownIdentity = true;
        }
        builder.Services.AddSingleton<Proxy.Routing.IRequestListeners>(_listeners);
        builder.Services.AddMeshgateProxy(Snapshots, reload);
        if (definition.Mesh is { } meshSection) GatewayMesh.AddWatch(builder.Services, meshSection, meshKind, meshApplied, configDirectory);
        builder.Services.AddMeshgateRouteStatistics();
        Gateway = builder.Build();
        Reloader = Gateway.Services.GetRequiredService<ConfigReloader>();
        Reloader.Applied += s => logs.Level = s.LogLevel;
        source?.Attach(Gateway.Services.GetRequiredService<ILogger<Configuration.Sources.Etcd.EtcdConfigSync>>(), Gateway.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        if (source is not null)
        {
            // Config canaries count this node's requests only while one runs.
            var figures = new CanaryRequestFigures(Gateway.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
            _disposables.Add(figures);
            source.Canary.Attach(Gateway.Services.GetRequiredService<ILogger<Configuration.Sources.Etcd.Canary.CanaryNode>>(), figures, () => Snapshots.Current.Version);
        }
        var anyLimits = snapshot.Listeners.Any(l => l.MaxRequestBodySize is not null || l.MaxRequestHeadersSize is not null);
        Gateway.UseMeshgateGateway(anyLimits ? _listeners.ListenerOf : null);

        var adminBuilder = MeshgateWebApplication.CreateBuilder();
        logs.Apply(adminBuilder.Logging, definition.Logging.Format);
        adminBuilder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            var address = snapshot.Admin.Address;
            if (address.AnyHost) k.ListenAnyIP(address.Port);
            else if (address.Localhost) k.ListenLocalhost(address.Port);
            else k.Listen(address.Ip, address.Port);
        });
        // The gateway's host owns the signals; the admin API stays up through the drain so probes can watch it.
        adminBuilder.Services.AddSingleton<IHostLifetime, PassiveHostLifetime>();
        adminBuilder.Services.AddMeshgateAdminJson();
        Admin = adminBuilder.Build();
        Admin.MapMeshgateAdmin(new AdminApi.GatewayServices(
            Snapshots,
            Reloader,
            Gateway.Services.GetRequiredService<IProxyStateLookup>(),
            Gateway.Services.GetRequiredService<RouteExplainer>(),
            () => _ready,
            Gateway.Services.GetRequiredService<Proxy.Resilience.CircuitBreaking.ICircuitBreakerState>(),
            Gateway.Services.GetRequiredService<Proxy.Resilience.OutlierDetection.IOutlierDetectionState>())
        {
            Mirroring = Gateway.Services.GetRequiredService<Proxy.Mirroring.MirrorStatistics>(),
            AccessLog = Gateway.Services.GetRequiredService<Proxy.Observability.AccessLog.AccessLogQueue>(),
            Caches = Gateway.Services.GetRequiredService<Proxy.Caching.ICacheState>(),
            RateLimits = Gateway.Services.GetRequiredService<Proxy.RateLimiting.IRateLimitState>(),
            Metrics = Gateway.Services.GetService<OpenTelemetry.Metrics.MeterProvider>(),
            Statistics = Gateway.Services.GetRequiredService<RouteStatistics>(),
            ConfigStore = store ?? source?.Store,
            ConfigSource = source,
            Canary = source?.Canary,
        });

        if (watchFile is not null)
        {
            var watcher = new FileConfigWatcher(watchFile, TimeSpan.FromMilliseconds(200));
            watcher.Changed += () => _ = Reloader.ReloadAsync("file change");
            _disposables.Add(watcher);
        }
    }

    public WebApplication Gateway { get; }
    public WebApplication Admin { get; }
    public SnapshotAccessor Snapshots { get; }
    public ConfigReloader Reloader { get; }

    /// <summary>Bound listener URLs by listener name (real ports when the config said 0).</summary>
    public IReadOnlyList<(string Name, Uri Url)> ListenerUrls => _listeners.Addresses;

    public Uri AdminUrl => new(Admin.Urls.First());

    /// <param name="configFile">Reloaded on change, SIGHUP and POST /admin/reload; null for a config that has no file.</param>
    /// <param name="time">The clock the proxy's features read (tests: to cross a quota's period end); the system clock when null.</param>
    /// <param name="identity">The mesh identity to use instead of one obtained from the mesh section's control plane (tests).</param>
    /// <param name="store">Where the admin API's config writes go (the config file's <see cref="FileConfigStore"/>); null keeps them in memory.</param>
    /// <param name="meshKind">How the mesh watch introduces this process to the control plane: "gateway", or "sidecar" for a sidecar's generated config.</param>
    /// <param name="meshApplied">Called with each mesh snapshot the proxy applied (the sidecar rewrites its config from it); its error NACKs the snapshot.</param>
    /// <param name="source">
    /// The config in etcd: watched from start, every change reloaded through <paramref name="reload"/> (which should be
    /// <see cref="Configuration.Sources.Etcd.EtcdConfigSync.Load"/>); the admin API writes to its store. The host owns it.
    /// </param>
    public static GatewayHost Create(ConfigSnapshot snapshot, Func<ConfigLoader.Result> reload, string? configFile = null, LogSetup? logs = null, TimeProvider? time = null,
        Proxy.Mesh.IWorkloadIdentity? identity = null, IConfigStore? store = null, string meshKind = "gateway",
        MeshSnapshotApplied? meshApplied = null, Configuration.Sources.Etcd.EtcdConfigSync? source = null) =>
        new(snapshot, reload, configFile, logs ?? new LogSetup(), time, identity, store, meshKind, meshApplied, source, ownsLogs: logs is null);

    /// <summary>How long <see cref="StartAsync"/> waits for the first workload certificate before it fails (mesh section only).</summary>
    public TimeSpan IdentityStartupTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Starts the listeners and the admin API. With a mesh section (and no identity given to <see cref="Create"/>), the
    /// workload certificate is got first: the admin API comes up at once (ready: false), the proxy's listeners only once
    /// a certificate is held, and after <see cref="IdentityStartupTimeout"/> (or at once when the CA refuses the token)
    /// start fails with the reason.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_ownIdentity)
        {
            GatewayMesh.StartOwnIdentity(Gateway.Services);
            await Admin.StartAsync(cancellationToken);
            try
            {
                await GatewayMesh.WaitForCertificateAsync(Gateway.Services, IdentityStartupTimeout, cancellationToken);
                await Gateway.StartAsync(cancellationToken);
            }
            catch
            {
                await Admin.StopAsync(CancellationToken.None);
                throw;
            }
            Started();
            return;
        }
        await Gateway.StartAsync(cancellationToken);
        try
        {
            await Admin.StartAsync(cancellationToken);
        }
        catch
        {
            await Gateway.StopAsync(CancellationToken.None);
            throw;
        }
        Started();
    }

    [LoggerMessage(EventId = Common.EventIds.Host + 10, Level = LogLevel.Information,
        Message = "Socket work runs inline on the runtime's socket-event threads (DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1, the gateway's default; =0 runs it on the thread pool): one event loop per core, no thread-pool hop per read")]
    private static partial void LogInlineScheduling(ILogger logger);

    [LoggerMessage(EventId = Common.EventIds.Host + 11, Level = LogLevel.Information,
        Message = "Listener and upstream connections run on Meshgate's epoll loops, one per core (sockets: auto or epoll; sockets: runtime uses .NET's sockets instead)")]
    private static partial void LogEpollSockets(ILogger logger);

    private void Started()
    {
        // Said once, at start: an operator reading a stalled process's log should see that it runs as an event loop.
        var hostLogger = Gateway.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Meshgate.Host");
        if (Snapshots.Current.EpollSockets) LogEpollSockets(hostLogger);
        if (MeshgateWebApplication.InlineScheduling) LogInlineScheduling(hostLogger);
        Gateway.Lifetime.ApplicationStopping.Register(() => _ready = false);
        _disposables.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            _ = Reloader.ReloadAsync("SIGHUP");
        }));
        _source?.Start(trigger => Reloader.ReloadAsync(trigger));
        _ready = true;
    }

    /// <summary>Runs until SIGTERM/SIGINT, then drains: the listeners stop accepting, in-flight requests finish (up to shutdown.drainTimeout).</summary>
    public async Task RunUntilShutdownAsync()
    {
        await Gateway.WaitForShutdownAsync();
        _ready = false;
        await Admin.StopAsync();
    }

    public async Task StopAsync()
    {
        _ready = false;
        await Gateway.StopAsync();
        await Admin.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _ready = false;
        foreach (var disposable in _disposables) disposable.Dispose();
        if (_source is not null) await _source.DisposeAsync();
        await Gateway.DisposeAsync();
        await Admin.DisposeAsync();
        _ownLogs?.Dispose();
    }
}

/// <summary>A host lifetime that reacts to no signal: the process's lifetime belongs to the gateway host.</summary>
internal sealed class PassiveHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
