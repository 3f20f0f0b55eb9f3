using System.CommandLine;
using System.Net;
using Meshgate.Configuration.Model;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.V1;
using Meshgate.Roles.ControlPlane;

namespace Meshgate.Commands;

internal static class ControlPlaneCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "IP:port of the gRPC listener (registry and config distribution; HTTP/2 without TLS for now).", DefaultValueFactory = _ => "127.0.0.1:15010" };
        var admin = new Option<string>("--admin") { Description = "IP:port of the admin HTTP API (no authentication: keep it on loopback).", DefaultValueFactory = _ => "127.0.0.1:15011" };
        var policies = new Option<string?>("--policies") { Description = "YAML file of mesh-wide policies (timeouts, retries, traffic splits, allow rules); reloaded on SIGHUP." };
        var state = new Option<string?>("--state") { Description = "JSON file the registry and policies are saved to on each change and restored from at start." };
        var ttl = new Option<string>("--ttl") { Description = "How long an instance stays registered without a heartbeat (e.g. 30s).", DefaultValueFactory = _ => "30s" };
        var command = new Command("control-plane", "Run the mesh control plane: service registry and config distribution over gRPC, plus an admin API.")
        {
            listen, admin, policies, state, ttl,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            if (!TryEndPoint(parse.GetValue(listen)!, "--listen", error, out var listenEndPoint)
                || !TryEndPoint(parse.GetValue(admin)!, "--admin", error, out var adminEndPoint))
            {
                return 1;
            }
            if (!Duration.TryParse(parse.GetValue(ttl)!, out var ttlValue) || ttlValue < TimeSpan.FromSeconds(1))
            {
                error.WriteLine($"--ttl: expected a duration of at least 1s with a unit (30s, 2m), got '{parse.GetValue(ttl)}'");
                return 1;
            }
            MeshPolicies? loaded = null;
            var policiesPath = parse.GetValue(policies);
            if (policiesPath is not null)
            {
                var result = MeshPolicyFile.Load(policiesPath);
                if (result.Policies is null)
                {
                    foreach (var e in result.Errors) error.WriteLine($"{policiesPath}: {e}");
                    error.WriteLine($"{result.Errors.Count} error{(result.Errors.Count == 1 ? "" : "s")}: the control plane did not start");
                    return ConfigOption.InvalidConfigExitCode;
                }
                loaded = result.Policies;
            }
            var options = new ControlPlaneOptions { Listen = listenEndPoint, Admin = adminEndPoint, Ttl = ttlValue, StatePath = parse.GetValue(state) };
            ControlPlaneHost host;
            try
            {
                host = ControlPlaneHost.Create(options, loaded, policiesPath);
            }
            catch (InvalidDataException e)
            {
                error.WriteLine($"cannot start: {e.Message}");
                return 1;
            }
            await using (host)
            {
                try
                {
                    await host.StartAsync();
                }
                catch (IOException e)
                {
                    error.WriteLine($"cannot start: {e.Message}");
                    return 1;
                }
                await host.RunUntilShutdownAsync();
            }
            return 0;
        });
        return command;
    }

    private static bool TryEndPoint(string text, string option, TextWriter error, out IPEndPoint endPoint)
    {
        if (IPEndPoint.TryParse(text, out endPoint!) && endPoint.Port is >= 0 and <= 65535 && text.Contains(':', StringComparison.Ordinal)) return true;
        error.WriteLine($"{option}: expected IP:port (e.g. 127.0.0.1:15010), got '{text}'");
        return false;
    }
}
