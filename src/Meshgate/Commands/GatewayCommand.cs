using System.CommandLine;
using Meshgate.Configuration;
using Meshgate.Roles.Edge;

namespace Meshgate.Commands;

internal static class GatewayCommand
{
    public static Command Create()
    {
        var config = ConfigOption.Create();
        var noWatch = new Option<bool>("--no-watch") { Description = "Do not reload when the file changes; reload only on SIGHUP or POST /admin/reload." };
        var command = new Command("gateway", "Run the edge gateway from a config file; reloads it on change, SIGHUP or POST /admin/reload.") { config, noWatch };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var path = parse.GetValue(config)!;
            var result = ConfigLoader.LoadFile(path);
            if (result.Snapshot is not { } snapshot)
            {
                ConfigOption.PrintErrors(parse.InvocationConfiguration.Error, result.Errors);
                return ConfigOption.InvalidConfigExitCode;
            }
            await using var host = GatewayHost.Create(snapshot, () => ConfigLoader.LoadFile(path), parse.GetValue(noWatch) ? null : path, store: new Configuration.Sources.FileConfigStore(path));
            return await RunAsync(host, parse.InvocationConfiguration.Error);
        });
        return command;
    }

    /// <summary>Start, serve until SIGTERM/SIGINT, drain, exit 0; a listener that cannot bind, or no mesh workload certificate, is exit 1 with the reason.</summary>
    public static async Task<int> RunAsync(GatewayHost host, TextWriter error)
    {
        try
        {
            await host.StartAsync();
        }
        catch (Exception e) when (e is IOException or Mesh.Identity.WorkloadIdentityUnavailableException)
        {
            error.WriteLine($"cannot start: {e.Message}");
            return 1;
        }
        await host.RunUntilShutdownAsync();
        return 0;
    }
}
