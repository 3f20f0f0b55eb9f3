using System.Net;
using Grpc.Net.Client;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.ControlPlane.Client;
using Meshgate.Mesh.V1;
using Meshgate.TestKit;

namespace Meshgate.Mesh.Tests.ControlPlane;

public sealed class ControlPlaneClientTests
{
    private static readonly ControlPlaneClientOptions Fast = new() { InitialBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(400) };

    [Fact]
    public async Task The_client_applies_and_acks_and_after_a_control_plane_restart_reconnects_and_gets_the_new_state()
    {
        var state = Path.Combine(Path.GetTempPath(), $"meshgate-cp-{Guid.NewGuid():N}.json");
        var first = await TestControlPlane.StartAsync(statePath: state);
        var port = first.Server.GrpcAddress.Port;
        using var channel = GrpcChannel.ForAddress(first.Server.GrpcAddress);
        MeshSnapshot? applied = null;
        var client = new ControlPlaneClient(channel, "sidecar-a", "sidecar", (s, _) => { Volatile.Write(ref applied, s); return Task.FromResult<string?>(null); }, Fast);
        using var stop = new CancellationTokenSource();
        var run = client.RunAsync(stop.Token);
        try
        {
            await first.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
            await Eventually.HoldsAsync(() => Task.FromResult(Volatile.Read(ref applied) is { } s && Watcher.Has(s, "orders", "orders-1")), TimeSpan.FromSeconds(10), "the client applied the registration");
            await Eventually.HoldsAsync(async () => (await first.AdminJsonAsync("/admin/proxies")).GetProperty("proxies")[0].GetProperty("versionAcked").GetInt64() == client.AppliedVersion,
                TimeSpan.FromSeconds(10), "the control plane shows the client's ACK");
            await first.DisposeAsync();

            // The same address again, as a restarted process would bind it.
            await using var second = await StartOnAsync(port, state);
            await second.Registry.RegisterAsync(TestControlPlane.Instance("users", "users-1"));
            await Eventually.HoldsAsync(() => Task.FromResult(Volatile.Read(ref applied) is { } s && Watcher.Has(s, "users", "users-1") && Watcher.Has(s, "orders", "orders-1")),
                TimeSpan.FromSeconds(10), "the client reconnected and applied the new control plane's snapshot");
            Assert.True(client.Connections >= 2);
            await Eventually.HoldsAsync(async () =>
            {
                var proxy = (await second.AdminJsonAsync("/admin/proxies")).GetProperty("proxies")[0];
                return proxy.GetProperty("connected").GetBoolean() && proxy.GetProperty("versionAcked").GetInt64() == client.AppliedVersion;
            }, TimeSpan.FromSeconds(10), "the restarted control plane shows the client connected and its ACK");
        }
        finally
        {
            await stop.CancelAsync();
            await run;
            await first.DisposeAsync();
            File.Delete(state);
        }
    }

    [Fact]
    public async Task A_snapshot_the_proxy_cannot_apply_is_nacked_and_the_proxy_stays_on_its_version()
    {
        await using var cp = await TestControlPlane.StartAsync();
        using var channel = GrpcChannel.ForAddress(cp.Server.GrpcAddress);
        var client = new ControlPlaneClient(channel, "gateway-1", "gateway",
            (s, _) => Task.FromResult(s.Services.Count == 0 ? null : "cluster orders: no healthy endpoints"), Fast);
        using var stop = new CancellationTokenSource();
        var run = client.RunAsync(stop.Token);
        try
        {
            await Eventually.HoldsAsync(() => Task.FromResult(client.AppliedVersion > 0), TimeSpan.FromSeconds(10), "the empty snapshot applied");
            var accepted = client.AppliedVersion;
            await cp.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
            await Eventually.HoldsAsync(async () =>
                (await cp.AdminJsonAsync("/admin/proxies")).GetProperty("proxies")[0].GetProperty("lastNackReason").GetString() == "cluster orders: no healthy endpoints",
                TimeSpan.FromSeconds(10), "the NACK and its reason are shown");
            var proxy = (await cp.AdminJsonAsync("/admin/proxies")).GetProperty("proxies")[0];
            Assert.Equal(accepted, proxy.GetProperty("versionAcked").GetInt64());
            Assert.Equal(accepted, client.AppliedVersion);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    private static async Task<TestControlPlane> StartOnAsync(int port, string state)
    {
        // Right after the first one stopped the port can be briefly busy; retry a few times.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await TestControlPlane.StartAsync(statePath: state, listen: new IPEndPoint(IPAddress.Loopback, port));
            }
            catch (IOException) when (attempt < 20)
            {
                await Task.Delay(100);
            }
        }
    }
}
