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
        var etcd = EtcdConfigOptions.Etcd("Read the config from etcd (etcd://host:port[,host:port...]) instead of a file, follow every change to it, and keep the admin API's writes there; exclusive with --config.");
        var etcdPrefix = EtcdConfigOptions.Prefix("--etcd-prefix");
        var command = new Command("gateway", "Run the edge gateway from a config file (reloaded on change, SIGHUP or POST /admin/reload) or from etcd (--etcd).") { config, noWatch, etcd, etcdPrefix };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(etcd) is { } etcdUrl)
            {
                if (parse.GetResult(config) is { Implicit: false })
                {
                    parse.InvocationConfiguration.Error.WriteLine("--config and --etcd are exclusive: with --etcd the config lives in etcd (write it there with `meshgate config push`)");
                    return 1;
                }
                return await RunFromEtcdAsync(etcdUrl, parse.GetValue(etcdPrefix)!, parse.InvocationConfiguration.Error, cancellationToken);
            }
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

    private static async Task<int> RunFromEtcdAsync(string url, string prefix, TextWriter error, CancellationToken cancellationToken)
    {
        if (EtcdConfigOptions.Store(url, prefix, "--etcd-prefix", error) is not { } store) return 1;
        Configuration.Sources.Etcd.EtcdConfigState state;
        try
        {
            state = await store.ReadStateAsync(cancellationToken);
        }
        catch (IOException e)
        {
            store.Dispose();
            error.WriteLine($"cannot start: {e.Message}");
            return 1;
        }
        var result = Configuration.Sources.Etcd.EtcdConfigSync.Load(state, store);
        if (result.Snapshot is not { } snapshot)
        {
            store.Dispose();
            ConfigOption.PrintErrors(error, result.Errors);
            return ConfigOption.InvalidConfigExitCode;
        }
        var sync = new Configuration.Sources.Etcd.EtcdConfigSync(store, state);
        await using var host = GatewayHost.Create(snapshot, sync.Load, source: sync);
        return await RunAsync(host, error, cancellationToken);
    }

    /// <summary>Start, serve until SIGTERM/SIGINT, drain, exit 0; a listener that cannot bind, or no mesh workload certificate, is exit 1 with the reason.</summary>
    /// <param name="cancellationToken">Cancelled (the command line's own token, a test): stops the gateway as SIGTERM does.</param>
    public static async Task<int> RunAsync(GatewayHost host, TextWriter error, CancellationToken cancellationToken = default)
    {
        try
        {
            await host.StartAsync();
        }
        catch (Exception e) when (e is IOException || GatewayMesh.IsIdentityUnavailable(e))
        {
            error.WriteLine($"cannot start: {e.Message}");
            return 1;
        }
        StartupGarbage.Collect();
        using var stop = cancellationToken.Register(() => host.Gateway.Lifetime.StopApplication());
        await host.RunUntilShutdownAsync();
        return 0;
    }
}
