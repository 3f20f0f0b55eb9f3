using System.CommandLine;
using Meshgate.Configuration;

namespace Meshgate.Commands;

/// <summary>`meshgate config push` and `meshgate config pull`: a whole config into or out of etcd.</summary>
internal static class ConfigCommand
{
    public static Command Create() => new("config", "Move a whole config between a YAML file and etcd, where gateways started with --etcd read it.")
    {
        Push(),
        Pull(),
    };

    private static Command Push()
    {
        var config = ConfigOption.Create();
        var etcd = EtcdConfigOptions.Etcd("The etcd cluster to write to: etcd://host:port[,host:port...].");
        etcd.Required = true;
        var prefix = EtcdConfigOptions.Prefix("--prefix");
        var canary = new Option<string?>("--canary") { Description = "Run the config on this share of the gateway nodes first (like 10%: at least one node, never all), compare it with the other nodes, then promote it or roll it back. Needs --max-error-rate-increase, --max-p99-ratio and --duration." };
        var maxErrorRateIncrease = new Option<string?>("--max-error-rate-increase") { Description = "With --canary: roll back when the canary's 5xx rate is more than this much higher than the other nodes' (percentage points, like 1%)." };
        var maxP99Ratio = new Option<string?>("--max-p99-ratio") { Description = "With --canary: roll back when the canary's p99 latency is more than this many times the other nodes' (like 1.5)." };
        var duration = new Option<string?>("--duration") { Description = "With --canary: how long to compare before promoting (like 5m)." };
        var interval = new Option<string?>("--interval") { Description = "With --canary: how often to read the nodes' figures and check the thresholds (default 5s)." };
        var minRequests = new Option<long?>("--min-requests") { Description = "With --canary: requests each side must have seen to be judged; fewer at the end rolls back (default 100)." };
        var command = new Command("push", "Validate a config file and write it to etcd in one transaction, replacing the config there; every gateway on the prefix applies it. Exits 2 with the errors when the file is invalid (nothing is written). With --canary, a share of the nodes runs it first and it is promoted (exit 0) or rolled back (exit 3) by the thresholds.")
        {
            config, etcd, prefix, canary, maxErrorRateIncrease, maxP99Ratio, duration, interval, minRequests,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var canaryOptions = new Option[] { maxErrorRateIncrease, maxP99Ratio, duration, interval, minRequests };
            CanaryArguments? canaryArguments = null;
            if (parse.GetValue(canary) is { } share)
            {
                canaryArguments = CanaryArguments.Parse(share, parse.GetValue(maxErrorRateIncrease), parse.GetValue(maxP99Ratio), parse.GetValue(duration), parse.GetValue(interval), parse.GetValue(minRequests), out var problems);
                if (canaryArguments is null)
                {
                    foreach (var problem in problems) error.WriteLine(problem);
                    return 1;
                }
            }
            else if (canaryOptions.FirstOrDefault(o => parse.GetResult(o) is not null) is { } stray)
            {
                error.WriteLine($"{stray.Name} only applies with --canary");
                return 1;
            }
            var path = parse.GetValue(config)!;
            var loaded = ConfigLoader.LoadFile(path);
            if (!loaded.Ok)
            {
                ConfigOption.PrintErrors(error, loaded.Errors);
                return ConfigOption.InvalidConfigExitCode;
            }
            using var store = EtcdConfigOptions.Store(parse.GetValue(etcd)!, parse.GetValue(prefix)!, "--prefix", error);
            if (store is null) return 1;
            try
            {
                if (canaryArguments is { } arguments)
                {
                    var rollout = new CanaryRollout(new Configuration.Sources.Etcd.Canary.EtcdCanaryStore(store), output, error, TimeProvider.System);
                    return await rollout.RunAsync(path, await File.ReadAllTextAsync(path, cancellationToken), arguments.SharePercent, arguments.Thresholds, cancellationToken);
                }
                var current = await store.ReadAsync(cancellationToken);
                var write = await store.WriteAsync(await File.ReadAllTextAsync(path, cancellationToken), current.Revision, cancellationToken);
                if (!write.Written)
                {
                    error.WriteLine($"{store.Name} changed while the config was pushed (it now holds revision {write.Current.Revision}); nothing was written. Push again to replace it.");
                    return 1;
                }
                output.WriteLine(write.Current.Revision == current.Revision
                    ? $"{store.Name} already holds this config (revision {current.Revision}); nothing changed"
                    : $"pushed {path} to {store.Name}: revision {write.Current.Revision} (was {current.Revision})");
                return 0;
            }
            catch (IOException e)
            {
                error.WriteLine($"cannot push: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static Command Pull()
    {
        var etcd = EtcdConfigOptions.Etcd("The etcd cluster to read from: etcd://host:port[,host:port...].");
        etcd.Required = true;
        var prefix = EtcdConfigOptions.Prefix("--prefix");
        var file = new Option<string?>("--output", "-o") { Description = "Write the YAML to this file instead of standard output." };
        var command = new Command("pull", "Read the config from etcd as one YAML file (keys and formatting as the gateways see it; comments are not kept). Exits 2 with the errors when the keys in etcd do not make a config.")
        {
            etcd, prefix, file,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            using var store = EtcdConfigOptions.Store(parse.GetValue(etcd)!, parse.GetValue(prefix)!, "--prefix", error);
            if (store is null) return 1;
            Configuration.Sources.Etcd.EtcdConfigState state;
            try
            {
                state = await store.ReadStateAsync(cancellationToken);
            }
            catch (IOException e)
            {
                error.WriteLine($"cannot pull: {e.Message}");
                return 1;
            }
            if (state.Assembled.Empty)
            {
                error.WriteLine($"{store.Name} holds no config (no key under the prefix); write one with `meshgate config push`");
                return 1;
            }
            if (state.Assembled.Errors.Count > 0)
            {
                ConfigOption.PrintErrors(error, state.Assembled.Errors);
                return ConfigOption.InvalidConfigExitCode;
            }
            var yaml = $"# {store.Name} at revision {state.Assembled.Config.Revision}\n" + state.Assembled.Config.Yaml;
            if (parse.GetValue(file) is { } path) await File.WriteAllTextAsync(path, yaml, cancellationToken);
            else parse.InvocationConfiguration.Output.Write(yaml);
            return 0;
        });
        return command;
    }
}
