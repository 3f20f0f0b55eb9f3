using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Meshgate.Configuration;
using Meshgate.Configuration.Validation;
using Meshgate.Hosting;
using Meshgate.Mesh.Sidecar;
using Meshgate.Mesh.V1;
using Meshgate.Roles.Edge;

namespace Meshgate.Roles.Sidecar;

/// <summary>
/// The sidecar role: a <see cref="GatewayHost"/> running the config <see cref="SidecarConfig"/> writes from the
/// options and each mesh snapshot, plus the app instance's registration. Order of life:
/// start (listeners up, workload certificate obtained) → first snapshot applied → registered, so callers find it
/// only once it knows who may call; on SIGTERM it deregisters first, then drains like the gateway.
/// </summary>
public sealed class SidecarHost : IAsyncDisposable
{
    private static readonly TimeSpan DeregisterTimeout = TimeSpan.FromSeconds(2);
    private readonly SidecarOptions _options;
    private readonly TaskCompletionSource _firstSnapshot = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private readonly GrpcChannel _channel;
    // A LogSetup made here rather than given: disposed after the gateway host, so its last lines are written.
    private readonly LogSetup? _ownLogs;
    private volatile string _yaml;
    private Task? _registrationLoop;

    private SidecarHost(SidecarOptions options, string yaml, ConfigSnapshot snapshot, LogSetup logs, bool ownsLogs, Proxy.Mesh.IWorkloadIdentity? identity)
    {
        if (ownsLogs) _ownLogs = logs;
        _options = options;
        _yaml = yaml;
        Gateway = GatewayHost.Create(snapshot, Load, logs: logs, identity: identity, meshKind: "sidecar", meshApplied: OnSnapshotAsync);
        // The same TLS trust as the workload identity's and the watch's channels: the CA file, then the fetched bundle.
        _channel = Mesh.ControlPlane.Client.ControlPlaneChannel.Create(new Uri(options.ControlPlane), options.ControlPlaneCa is { } ca ? Path.GetFullPath(ca) : null, TrustBundle);
    }

    public GatewayHost Gateway { get; }

    private X509Certificate2Collection? TrustBundle() =>
        Gateway.Gateway.Services.GetService<Proxy.Mesh.IWorkloadIdentity>() is { } identity && identity is not Mesh.Identity.WorkloadIdentity { HasCertificate: false }
            ? identity.TrustBundle
            : null;

    /// <summary>The instance's registration; null until the first snapshot is applied.</summary>
    public InstanceRegistration? Registration { get; private set; }

    /// <summary>The config the sidecar runs now (YAML), as /admin/config shows it compiled.</summary>
    public string ConfigYaml => _yaml;

    /// <summary>The bound URL of a listener: "inbound", "outbound" or "port-SERVICE".</summary>
    public Uri ListenerUrl(string name) => Gateway.ListenerUrls.Single(l => l.Name == name).Url;

    /// <summary>The sidecar for <paramref name="options"/>; throws <see cref="InvalidSidecarOptionsException"/> when they make no valid config.</summary>
    /// <param name="identity">A workload identity to use instead of the control plane's CA (tests).</param>
    public static SidecarHost Create(SidecarOptions options, LogSetup? logs = null, Proxy.Mesh.IWorkloadIdentity? identity = null)
    {
        var yaml = SidecarConfig.Yaml(options, null, (_, _) => "");
        var result = ConfigLoader.Load(yaml, "sidecar", Directory.GetCurrentDirectory());
        if (result.Snapshot is not { } snapshot) throw new InvalidSidecarOptionsException(result.Errors);
        return new SidecarHost(options, yaml, snapshot, logs ?? new LogSetup(), ownsLogs: logs is null, identity);
    }

    private ConfigLoader.Result Load() => ConfigLoader.Load(_yaml, "sidecar", Directory.GetCurrentDirectory());

    /// <summary>Each applied mesh snapshot: rewrite the config (routes to the services there are, inbound rules) and reload.</summary>
    private async Task<string?> OnSnapshotAsync(MeshSnapshot snapshot, CancellationToken cancellationToken)
    {
        var identity = Gateway.Gateway.Services.GetRequiredService<Proxy.Mesh.IWorkloadIdentity>();
        _yaml = SidecarConfig.Yaml(_options, snapshot, identity.SpiffeIdOf);
        var status = await Gateway.Reloader.ReloadAsync($"mesh snapshot {snapshot.Version}", cancellationToken);
        if (status.LastErrors.Count > 0)
        {
            return $"the sidecar's config from snapshot {snapshot.Version} is invalid: {string.Join("; ", status.LastErrors)}";
        }
        _firstSnapshot.TrySetResult();
        return null;
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await Gateway.StartAsync(cancellationToken);
        Gateway.Gateway.Lifetime.ApplicationStopping.Register(() =>
        {
            _stopping.Cancel();
            // Before the listeners stop: callers drop this instance at their next snapshot while it still answers.
            Registration?.DeregisterAsync(DeregisterTimeout).GetAwaiter().GetResult();
        });
        _registrationLoop = RegisterAfterFirstSnapshotAsync(_stopping.Token);
    }

    /// <summary>Completes when the first mesh snapshot has been applied (and the instance registration has begun).</summary>
    public Task FirstSnapshotApplied => _firstSnapshot.Task;

    private async Task RegisterAfterFirstSnapshotAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _firstSnapshot.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        var inbound = ListenerUrl(SidecarConfig.InboundListener);
        var request = new RegisterRequest
        {
            Service = _options.Service,
            InstanceId = _options.InstanceId ?? $"{_options.Service}-{Environment.MachineName}-{Environment.ProcessId}-{inbound.Port}",
            Address = _options.AdvertiseAddress ?? (inbound.Host is "localhost" ? "127.0.0.1" : inbound.Host),
            Port = inbound.Port,
        };
        // Where `meshgate top --mesh` scrapes this sidecar's /metrics; a --label of the same name (say, behind NAT) wins.
        request.Labels[InstanceRegistration.AdminLabel] = InstanceRegistration.AdvertisedAdminUrl(Gateway.AdminUrl, _options.AdvertiseAddress);
        foreach (var (name, value) in _options.Labels) request.Labels[name] = value;
        var logger = Gateway.Gateway.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Meshgate.Sidecar");
        Registration = new InstanceRegistration(_channel, request, logger);
        await Registration.RunAsync(cancellationToken);
    }

    public Task RunUntilShutdownAsync() => Gateway.RunUntilShutdownAsync();

    public async Task StopAsync()
    {
        await _stopping.CancelAsync();
        if (Registration is { } registration) await registration.DeregisterAsync(DeregisterTimeout);
        await Gateway.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        if (_registrationLoop is { } loop) await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await Gateway.DisposeAsync();
        _channel.Dispose();
        _stopping.Dispose();
        _ownLogs?.Dispose();
    }
}

/// <summary>The sidecar's options make no valid config (an address that does not parse, a port in use twice...).</summary>
public sealed class InvalidSidecarOptionsException(IReadOnlyList<ConfigError> errors)
    : Exception("the sidecar's options make no valid config: " + string.Join("; ", errors))
{
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}
