using System.CommandLine;
using System.Reflection;
using Meshgate.Configuration;
using Meshgate.Configuration.Model;
using Meshgate.Demo;
using Meshgate.Mesh.Sidecar;
using Meshgate.Roles.Edge;

namespace Meshgate.Commands;

/// <summary>`meshgate demo`: examples/demo.yaml with its demo upstreams started in-process.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Gateway port on 127.0.0.1.", DefaultValueFactory = _ => 8080 };
        var adminPort = new Option<int>("--admin-port") { Description = "Admin API port on 127.0.0.1.", DefaultValueFactory = _ => 9901 };
        var mesh = new Option<bool>("--mesh") { Description = "Run a whole mesh instead: a control plane, the services frontend, orders and payments each with its sidecar, and the gateway in front as mesh ingress." };
        var command = new Command("demo", "Run a gateway on 127.0.0.1:8080 (admin on :9901) in front of built-in demo services (with --mesh: a service mesh of three).") { port, adminPort, mesh };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(mesh)) return await RunMeshAsync(parse.GetValue(port), parse.GetValue(adminPort), output, parse.InvocationConfiguration.Error, cancellationToken);
            var planned = Load(parse.GetValue(port), parse.GetValue(adminPort), null);
            if (planned.Snapshot is null)
            {
                ConfigOption.PrintErrors(parse.InvocationConfiguration.Error, planned.Errors);
                return ConfigOption.InvalidConfigExitCode;
            }
            // The demo services take free ports (two demos, or a demo and a test run, never collide); the config's
            // endpoints are then pointed at them.
            await using var services = await StartServicesAsync(planned.Snapshot);
            var result = Load(parse.GetValue(port), parse.GetValue(adminPort), services.BoundUrl);
            if (result.Snapshot is not { } snapshot)
            {
                ConfigOption.PrintErrors(parse.InvocationConfiguration.Error, result.Errors);
                return ConfigOption.InvalidConfigExitCode;
            }
            await using var host = GatewayHost.Create(snapshot, () => result);
            await host.StartAsync();
            var gateway = host.ListenerUrls[0].Url;
            output.WriteLine($"""
                Meshgate demo is running.
                  gateway: {gateway}   admin API: {host.AdminUrl}
                Try:
                  curl -i {gateway}service1
                  curl -i -X POST {gateway}service2 -H 'content-type: application/json' -d '{"{"}"hello":"world"{"}"}'
                  curl -s '{host.AdminUrl}admin/explain?method=GET&path=/service1'
                  curl -s {host.AdminUrl}admin/clusters
                Ctrl-C stops it.
                """);
            await host.RunUntilShutdownAsync();
            return 0;
        });
        return command;
    }

    /// <summary>`demo --mesh`: see <see cref="MeshDemo"/>. Prints what runs where and what to try; Ctrl+C stops every part.</summary>
    private static async Task<int> RunMeshAsync(int port, int adminPort, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        output.WriteLine("Starting the mesh demo: a control plane, frontend, orders and payments with their sidecars, and the gateway ...");
        MeshDemo demo;
        try
        {
            demo = await MeshDemo.StartAsync(port, adminPort, cancellationToken);
        }
        catch (MeshDemoStartException e)
        {
            error.WriteLine($"cannot start the mesh demo: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C while starting: what had started is stopped already.
            output.WriteLine("Stopped before the mesh demo was up.");
            return 130;
        }
        await using (demo)
        {
            output.WriteLine(MeshDemoSummary(demo));
            await demo.RunUntilShutdownAsync(cancellationToken);
            output.WriteLine("Stopping the mesh demo ...");
        }
        output.WriteLine("Stopped.");
        return 0;
    }

    private static string MeshDemoSummary(MeshDemo demo)
    {
        var gateway = demo.GatewayUrl;
        var lines = new List<string>
        {
            $"Meshgate mesh demo is running, all in this process on 127.0.0.1 (trust domain {MeshDemo.TrustDomain}, namespace {MeshDemo.Namespace}).",
            $"  gateway (mesh ingress)  {gateway}   admin {demo.Gateway.AdminUrl}",
            $"  control plane           gRPC+TLS {demo.ControlPlane.GrpcAddress}   admin {demo.ControlPlane.AdminAddress}",
        };
        foreach (var (app, sidecar) in demo.Parts)
        {
            lines.Add($"  {app.Service,-9} app {app.Url}   sidecar inbound {sidecar.ListenerUrl(SidecarConfig.InboundListener)} (mTLS)   outbound {sidecar.ListenerUrl(SidecarConfig.OutboundListener)} (HTTP proxy)   admin {sidecar.Gateway.AdminUrl}");
        }
        var frontendOutbound = demo.Parts.First().Sidecar.ListenerUrl(SidecarConfig.OutboundListener);
        lines.AddRange(
        [
            "Flow: curl -> gateway =mTLS=> frontend's sidecar -> frontend -> its sidecar (http://orders/orders) =mTLS=> orders' sidecar -> orders -> ... -> payments",
            "Try:",
            $"  curl -s {gateway}frontend                          # the chain, each hop with the SPIFFE id of its caller",
            $"  curl -s -x {frontendOutbound} http://payments/payments   # 403: only orders may call payments",
            $"  curl -s {demo.ControlPlane.AdminAddress}admin/services",
            $"  meshgate top --mesh --admin {demo.ControlPlane.AdminAddress}   # requests, success and latency per edge, live",
            "Ctrl-C stops it.",
        ]);
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>The embedded copy of examples/demo.yaml, with the listener and admin ports the user chose, and each
    /// endpoint replaced by <paramref name="bound"/>'s URL for it (the demo service actually listening) when given.</summary>
    public static ConfigLoader.Result Load(int port, int adminPort, Func<Uri, Uri>? bound)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("demo.yaml")!;
        var yaml = new StreamReader(stream).ReadToEnd();
        return ConfigLoader.Load(yaml, "examples/demo.yaml", AppContext.BaseDirectory, d => d with
        {
            Listeners = [.. d.Listeners.Take(1).Select(l => l with { Address = $"127.0.0.1:{port}" })],
            Admin = d.Admin with { Address = $"127.0.0.1:{adminPort}" },
            Clusters = bound is null ? d.Clusters : [.. d.Clusters.Select(c => c with
            {
                Endpoints = [.. c.Endpoints.Select(e => e with { Url = bound(new Uri(e.Url!)).ToString().TrimEnd('/') })],
            })],
        });
    }

    public static Task<DemoServices> StartServicesAsync(ConfigSnapshot snapshot) =>
        DemoServices.StartAsync(snapshot.Definition.Clusters.SelectMany(c => c.Endpoints.Select(e => (c.Id!, new Uri(e.Url!)))));
}
