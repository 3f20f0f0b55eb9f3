using System.CommandLine;
using Meshgate.Configuration.Model;
using Meshgate.Mesh.Sidecar;
using Meshgate.Roles.Sidecar;

namespace Meshgate.Commands;

internal static class SidecarCommand
{
    /// <summary>Where a token given with --token is put, so the generated config names a variable rather than holding the secret.</summary>
    internal const string TokenVariable = "MESHGATE_SIDECAR_TOKEN";

    public static Command Create()
    {
        var service = new Option<string>("--service") { Description = "The service the app beside this sidecar is an instance of (its identity in the mesh).", Required = true };
        var ns = new Option<string>("--namespace") { Description = "The service's namespace.", DefaultValueFactory = _ => "default" };
        var appPort = new Option<int>("--app-port") { Description = "The app's port on 127.0.0.1: inbound calls are forwarded there.", Required = true };
        var controlPlane = new Option<string>("--control-plane") { Description = "URL of the control plane's gRPC listener, e.g. https://127.0.0.1:15010.", Required = true };
        var controlPlaneCa = new Option<string?>("--control-plane-ca") { Description = "PEM file of the roots the control plane's TLS certificate chains to (as its --write-trust-bundle writes). Default: the system trust store." };
        var token = new Option<string?>("--token") { Description = "The bootstrap token (visible to other users in the process list: prefer --token-file or --token-env)." };
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the bootstrap token." };
        var tokenEnv = new Option<string?>("--token-env") { Description = "Environment variable holding the bootstrap token." };
        var inbound = new Option<string>("--inbound") { Description = "host:port of the inbound mTLS listener other sidecars call.", DefaultValueFactory = _ => "0.0.0.0:15006" };
        var outbound = new Option<string>("--outbound") { Description = "host:port of the outbound listener: the app's HTTP proxy (HTTP_PROXY=http://127.0.0.1:15001).", DefaultValueFactory = _ => "127.0.0.1:15001" };
        var admin = new Option<string>("--admin") { Description = "host:port of the admin API (metrics, health, config).", DefaultValueFactory = _ => "127.0.0.1:15000" };
        var servicePort = new Option<string[]>("--service-port") { Description = "SERVICE=PORT: a fixed local port for calls to one service, for apps that cannot use an HTTP proxy (repeatable).", AllowMultipleArgumentsPerToken = false };
        var advertise = new Option<string?>("--advertise-address") { Description = "The address other sidecars reach this one's inbound listener at (registered in the mesh). Default: the inbound listener's host, 127.0.0.1 when it listens on all interfaces." };
        var instanceId = new Option<string?>("--instance-id") { Description = "Unique id of this instance in the registry. Default: service, host name, process id and port." };
        var label = new Option<string[]>("--label") { Description = "NAME=VALUE registry label, e.g. version=v2 (what traffic splits select on; repeatable)." };
        var mode = new Option<string>("--mode") { Description = "Inbound mTLS: strict (only mesh workloads with certificates) or permissive (plaintext too).", DefaultValueFactory = _ => "strict" };
        var meshForwarder = new Option<string>("--mesh-forwarder") { Description = "Which code forwards calls to other services over mTLS: auto and yarp (YARP's forwarder; HTTP/2 when the callee's sidecar offers it, measured cheaper) or direct (the direct HTTP/1.1 path). The mesh clusters' forwarder key (docs/configuration.md).", DefaultValueFactory = _ => "auto" };
        var command = new Command("sidecar", "Run a sidecar beside one app instance: mTLS inbound to the app, outbound discovery, load balancing, retries and mTLS to other services, with a workload certificate from the control plane.")
        {
            service, ns, appPort, controlPlane, controlPlaneCa, token, tokenFile, tokenEnv, inbound, outbound, admin, servicePort, advertise, instanceId, label, mode, meshForwarder,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var tokens = new[] { parse.GetValue(token), parse.GetValue(tokenFile), parse.GetValue(tokenEnv) }.Count(t => t is not null);
            if (tokens != 1)
            {
                error.WriteLine("give exactly one of --token, --token-file, --token-env: the bootstrap token the control plane's CA signs this sidecar's certificate for");
                return ConfigOption.InvalidConfigExitCode;
            }
            if (parse.GetValue(token) is { } secret) Environment.SetEnvironmentVariable(TokenVariable, secret);
            if (!TryPairs(parse.GetValue(servicePort) ?? [], "--service-port", error, out var ports) || !TryPairs(parse.GetValue(label) ?? [], "--label", error, out var labels))
            {
                return ConfigOption.InvalidConfigExitCode;
            }
            var portNumbers = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (name, value) in ports)
            {
                if (!int.TryParse(value, out var port) || port is < 1 or > 65535)
                {
                    error.WriteLine($"--service-port {name}={value}: the port must be a number from 1 to 65535");
                    return ConfigOption.InvalidConfigExitCode;
                }
                portNumbers[name] = port;
            }
            if (parse.GetValue(mode) is not ("strict" or "permissive"))
            {
                error.WriteLine($"--mode: expected strict or permissive, got '{parse.GetValue(mode)}'");
                return ConfigOption.InvalidConfigExitCode;
            }
            if (parse.GetValue(meshForwarder) is not ("auto" or "yarp" or "direct"))
            {
                error.WriteLine($"--mesh-forwarder: expected auto, yarp or direct, got '{parse.GetValue(meshForwarder)}'");
                return ConfigOption.InvalidConfigExitCode;
            }
            var options = new SidecarOptions
            {
                Service = parse.GetValue(service)!,
                Namespace = parse.GetValue(ns)!,
                AppPort = parse.GetValue(appPort),
                ControlPlane = parse.GetValue(controlPlane)!,
                ControlPlaneCa = parse.GetValue(controlPlaneCa),
                TokenFile = parse.GetValue(tokenFile),
                TokenEnv = parse.GetValue(token) is not null ? TokenVariable : parse.GetValue(tokenEnv),
                Inbound = parse.GetValue(inbound)!,
                Outbound = parse.GetValue(outbound)!,
                Admin = parse.GetValue(admin)!,
                ServicePorts = portNumbers,
                AdvertiseAddress = parse.GetValue(advertise),
                InstanceId = parse.GetValue(instanceId),
                Labels = labels,
                Mode = parse.GetValue(mode) == "strict" ? MeshTlsMode.Strict : MeshTlsMode.Permissive,
                MeshForwarder = parse.GetValue(meshForwarder) switch { "yarp" => ForwarderMode.Yarp, "direct" => ForwarderMode.Direct, _ => ForwarderMode.Auto },
            };
            SidecarHost host;
            try
            {
                host = SidecarHost.Create(options);
            }
            catch (InvalidSidecarOptionsException e)
            {
                // The errors name the generated config's keys; each maps to one option (listeners[0] is --inbound ...).
                foreach (var problem in e.Errors) error.WriteLine(problem.ToString());
                error.WriteLine("the sidecar did not start: its options make an invalid config (listeners[0] is --inbound, listeners[1] --outbound, mesh.* the mesh options)");
                return ConfigOption.InvalidConfigExitCode;
            }
            await using (host)
            {
                try
                {
                    await host.StartAsync(cancellationToken);
                }
                catch (Exception e) when (e is IOException or Mesh.Identity.WorkloadIdentityUnavailableException)
                {
                    error.WriteLine($"cannot start: {e.Message}");
                    return 1;
                }
                StartupGarbage.Collect();
                await host.RunUntilShutdownAsync();
            }
            return 0;
        });
        return command;
    }

    private static bool TryPairs(string[] values, string option, TextWriter error, out Dictionary<string, string> pairs)
    {
        pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            var equals = value.IndexOf('=');
            if (equals <= 0 || equals == value.Length - 1)
            {
                error.WriteLine($"{option} {value}: expected NAME=VALUE");
                return false;
            }
            pairs[value[..equals]] = value[(equals + 1)..];
        }
        return true;
    }
}
