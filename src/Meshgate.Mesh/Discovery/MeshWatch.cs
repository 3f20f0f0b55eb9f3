using Grpc.Net.Client;
using Meshgate.Configuration.Model;
using Meshgate.Mesh.ControlPlane.Client;
using Meshgate.Mesh.V1;
using Meshgate.Proxy.Mesh.Discovery;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Meshgate.Mesh.Discovery;

/// <summary>
/// Watches the control plane of the mesh section for the process's lifetime and applies every snapshot to the
/// <see cref="MeshDirectory"/>: ACK when applied, NACK with the directory's reason when refused (the previous one
/// stays). While the control plane is away the proxy keeps routing on the last snapshot; the client reconnects with
/// backoff. The same watch serves the gateway (kind "gateway") and the sidecar (kind "sidecar").
/// </summary>
public sealed class MeshWatch(MeshDefinition mesh, string kind, MeshDirectory directory, ControlPlaneClientOptions? options = null) : BackgroundService
{
    /// <summary>How this process appears in the control plane's /admin/proxies: kind, service and a per-process suffix.</summary>
    public string ProxyId { get; } = $"{kind}-{mesh.Service}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>The watch's client; null until the watch starts.</summary>
    public ControlPlaneClient? Client { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var channel = GrpcChannel.ForAddress(mesh.ControlPlane!);
        Client = new ControlPlaneClient(channel, ProxyId, kind, (snapshot, _) => Task.FromResult(Apply(snapshot)), options);
        await Client.RunAsync(stoppingToken);
    }

    private string? Apply(MeshSnapshot snapshot)
    {
        try
        {
            return directory.Apply(ToView(snapshot));
        }
        catch (ArgumentException e)
        {
            // E.g. a service listed twice: refuse the version rather than end the watch.
            return $"snapshot {snapshot.Version} cannot be read: {e.Message}";
        }
    }

    /// <summary>The wire snapshot as the proxy's directory takes it.</summary>
    public static MeshView ToView(MeshSnapshot snapshot) => new(
        snapshot.Version,
        snapshot.Services.ToDictionary(
            s => s.Name,
            s => (IReadOnlyList<MeshInstance>)s.Instances.Select(i => new MeshInstance(i.InstanceId, i.Address, i.Port, new Dictionary<string, string>(i.Labels))).ToList(),
            StringComparer.Ordinal),
        (snapshot.Policies?.Services ?? []).ToDictionary(
            p => p.Service,
            p => new MeshServicePolicy(p.Service, p.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(p.TimeoutMs) : null, p.RetryAttempts, p.Split.Select(v => new Proxy.Mesh.Discovery.VersionWeight(v.Version, v.Weight)).ToList()),
            StringComparer.Ordinal));
}

public static class MeshWatchServiceCollectionExtensions
{
    /// <summary>
    /// Watches the mesh section's control plane and feeds the proxy's <see cref="MeshDirectory"/> (registered by
    /// AddMeshgateProxy when the config has a mesh section). <paramref name="kind"/> is "gateway" or "sidecar".
    /// </summary>
    public static IServiceCollection AddMeshWatch(this IServiceCollection services, MeshDefinition mesh, string kind, ControlPlaneClientOptions? options = null)
    {
        services.AddSingleton(sp => new MeshWatch(mesh, kind, sp.GetRequiredService<MeshDirectory>(), options));
        services.AddHostedService(sp => sp.GetRequiredService<MeshWatch>());
        return services;
    }
}
