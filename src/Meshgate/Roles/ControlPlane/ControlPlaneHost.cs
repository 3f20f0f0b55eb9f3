using System.Runtime.InteropServices;
using Meshgate.Configuration.Model;
using Meshgate.Hosting;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.V1;

namespace Meshgate.Roles.ControlPlane;

/// <summary>
/// The control-plane role: wires <see cref="ControlPlaneServer"/> (registry, distribution, admin API) to the process:
/// logging, SIGHUP to reload the policies file, SIGTERM/SIGINT to stop. The logic lives in Meshgate.Mesh.
/// </summary>
public sealed class ControlPlaneHost : IAsyncDisposable
{
    private readonly string? _policiesPath;
    // A LogSetup made here rather than given: disposed after the server's hosts, so their last lines are written.
    private readonly LogSetup? _ownLogs;
    private IDisposable? _sighup;

    private ControlPlaneHost(ControlPlaneServer server, string? policiesPath, LogSetup logs, bool ownsLogs)
    {
        Server = server;
        _policiesPath = policiesPath;
        if (ownsLogs) _ownLogs = logs;
    }

    public ControlPlaneServer Server { get; }

    /// <param name="policies">The already validated content of <paramref name="policiesPath"/>, or null without a policies file.</param>
    public static ControlPlaneHost Create(ControlPlaneOptions options, MeshPolicies? policies, string? policiesPath, LogSetup? logs = null)
    {
        var setup = logs ?? new LogSetup();
        return new ControlPlaneHost(new ControlPlaneServer(options, policies, logging => setup.Apply(logging, LogFormat.Json)), policiesPath, setup, ownsLogs: logs is null);
    }

    public async Task StartAsync()
    {
        await Server.StartAsync();
        if (_policiesPath is not null)
        {
            _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                Server.ReloadPolicies(_policiesPath);
            });
        }
    }

    public Task RunUntilShutdownAsync() => Server.RunUntilShutdownAsync();

    public async ValueTask DisposeAsync()
    {
        _sighup?.Dispose();
        await Server.DisposeAsync();
        _ownLogs?.Dispose();
    }
}
