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
/// <param name="applied">Called after the directory took a snapshot (the sidecar rewrites its config from it); an error it returns NACKs the version.</param>
/// <param name="baseDirectory">Where a relative mesh.controlPlaneCa is taken from (the config file's directory).</param>
/// <param name="meshTrustBundle">The mesh roots the workload fetched, trusted beside mesh.controlPlaneCa (see <see cref="ControlPlaneChannel"/>).</param>
public sealed class MeshWatch(MeshDefinition mesh, string kind, MeshDirectory directory, ControlPlaneClientOptions? options = null,
    Func<MeshSnapshot, CancellationToken, Task<string?>>? applied = null, string? baseDirectory = null,
    Func<System.Security.Cryptography.X509Certificates.X509Certificate2Collection?>? meshTrustBundle = null) : BackgroundService
{
    /// <summary>How this process appears in the control plane's /admin/proxies: kind, service and a per-process suffix.</summary>
    public string ProxyId { get; } = $"{kind}-{mesh.Service}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>The watch's client; null until the watch starts.</summary>
    public ControlPlaneClient? Client { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var channel = ControlPlaneChannel.Create(mesh, baseDirectory ?? Directory.GetCurrentDirectory(), meshTrustBundle);
        Client = new ControlPlaneClient(channel, ProxyId, kind, ApplyAsync, options);
        await Client.RunAsync(stoppingToken);
    }

    private async Task<string?> ApplyAsync(MeshSnapshot snapshot, CancellationToken cancellationToken) =>
        Apply(snapshot) ?? (applied is null ? null : await applied(snapshot, cancellationToken));

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
    /// <param name="baseDirectory">Where a relative mesh.controlPlaneCa is taken from (the config file's directory).</param>
    public static IServiceCollection AddMeshWatch(this IServiceCollection services, MeshDefinition mesh, string kind, ControlPlaneClientOptions? options = null,
        Func<MeshSnapshot, CancellationToken, Task<string?>>? applied = null, string? baseDirectory = null)
    {
        services.AddSingleton(sp =>
        {
            // The process's workload identity, when it has one: its fetched trust bundle is trusted for the control plane too.
            var identity = sp.GetService<Proxy.Mesh.IWorkloadIdentity>();
            return new MeshWatch(mesh, kind, sp.GetRequiredService<MeshDirectory>(), options, applied, baseDirectory, identity is null ? null : () =>
            {
                try
                {
                    return identity.TrustBundle;
                }
                catch (Identity.WorkloadIdentityUnavailableException)
                {
                    return null;
                }
            });
        });
        services.AddHostedService(sp => sp.GetRequiredService<MeshWatch>());
        return services;
    }
}
