using System.Net;
using System.Text.Json;
using Meshgate.Mesh.CertificateAuthority;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>
/// An instance killed, with every mesh part a real process: `meshgate control-plane` (CA on, TLS, short TTL) and one
/// `meshgate sidecar` process per app instance: frontend (whose outbound listener the test's client uses as its HTTP
/// proxy, as an app with HTTP_PROXY would) and three instances of orders, each beside its own app. One orders
/// instance's sidecar is SIGKILLed (no deregistration, connections dropped by the kernel) and its app stopped mid-load.
/// </summary>
[Trait("Runs", "meshgate")]
public sealed class SidecarInstanceKilledTests : IAsyncLifetime
{
    private const int Instances = 3;
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(8);

    private readonly List<IAsyncDisposable> _owned = [];
    private string _directory = null!;

    public Task InitializeAsync()
    {
        _directory = Directory.CreateTempSubdirectory("meshgate-killed-").FullName;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned)) await owned.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A scratch directory left behind in /tmp is harmless.
        }
    }

    private T Own<T>(T owned) where T : IAsyncDisposable
    {
        _owned.Add(owned);
        return owned;
    }

    private string TokenFile(string service)
    {
        var path = Path.Combine(_directory, service + ".token");
        File.WriteAllText(path, Token(service) + "\n");
        return path;
    }

    private static string Token(string service) => $"token-{service}-0123456789abcdef";

    private static string Loopback() => "127.0.0.1:" + DebianServerBinary.FreePort();

    private MeshgateProcess StartSidecar(string service, int appPort, string controlPlane, string controlPlaneCa, string instanceId, string inbound, string outbound, string admin) =>
        Own(MeshgateProcess.Start("sidecar", "--service", service, "--app-port", appPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--control-plane", controlPlane, "--control-plane-ca", controlPlaneCa, "--token-file", TokenFile(service),
            "--instance-id", instanceId, "--inbound", inbound, "--outbound", outbound, "--admin", admin));

    [Fact]
    public async Task OrdersInstanceKilledUnderLoad_IsEjectedAtOnce_LeavesTheRegistryAfterItsTtl_AndNoCallFails()
    {
        var tokens = Path.Combine(_directory, "ca-tokens.txt");
        await File.WriteAllTextAsync(tokens, $"default frontend {BootstrapToken.Hash(Token("frontend"))}\ndefault orders {BootstrapToken.Hash(Token("orders"))}\n");
        var trustBundle = Path.Combine(_directory, "control-plane-ca.pem");
        var (grpc, cpAdmin) = (Loopback(), Loopback());
        var controlPlane = Own(MeshgateProcess.Start("control-plane", "--listen", grpc, "--admin", cpAdmin, "--ttl", $"{Ttl.TotalSeconds}s",
            "--ca-state-dir", Path.Combine(_directory, "ca"), "--ca-trust-domain", "mesh.test", "--ca-tokens-file", tokens, "--write-trust-bundle", trustBundle));
        await controlPlane.WaitForListenersAsync(2, TimeSpan.FromSeconds(60));
        using var registry = new HttpClient { BaseAddress = new Uri($"http://{cpAdmin}") };

        var inbounds = new List<string>();
        var apps = new List<TestUpstream>();
        var sidecars = new List<MeshgateProcess>();
        for (var i = 1; i <= Instances; i++)
        {
            var name = $"orders-{i}";
            apps.Add(Own(await TestUpstream.StartAsync(a => a.Run(context =>
            {
                context.Response.Headers["x-upstream"] = name;
                return context.Response.WriteAsync(name);
            }))));
            inbounds.Add(Loopback());
            sidecars.Add(StartSidecar("orders", apps[^1].Url.Port, $"https://{grpc}", trustBundle, name, inbounds[^1], Loopback(), Loopback()));
        }
        var frontendApp = Own(await TestUpstream.StartAsync(a => a.Run(context => context.Response.WriteAsync("frontend"))));
        var (outbound, frontendAdmin) = (Loopback(), Loopback());
        var frontend = StartSidecar("frontend", frontendApp.Url.Port, $"https://{grpc}", trustBundle, "frontend-1", Loopback(), outbound, frontendAdmin);
        using var client = new HttpClient(new SocketsHttpHandler { Proxy = new WebProxy($"http://{outbound}"), UseProxy = true }) { Timeout = TimeSpan.FromSeconds(30) };
        using var sidecarAdmin = new HttpClient { BaseAddress = new Uri($"http://{frontendAdmin}") };

        await frontend.CheckAsync(async () =>
        {
            var seen = new HashSet<string>();
            await Eventually.HoldsAsync(async () =>
            {
                try
                {
                    using var response = await client.GetAsync("http://orders/orders/1");
                    if (response.StatusCode == HttpStatusCode.OK) seen.Add(response.Headers.GetValues("x-upstream").Single());
                }
                catch (HttpRequestException)
                {
                    // The sidecar is still starting.
                }
                return seen.Count == Instances;
            }, TimeSpan.FromSeconds(90), "frontend's sidecar never reached all three orders instances");

            // Eight callers at once: at the kill, the requests in flight on the dead instance's connection fail together,
            // and those sent to it before its ejection just after, more of them than the retry budget's floor of three.
            // Each is retried on a live instance (a failover off an ejected instance is not budgeted).
            await using var load = UpstreamLoad.Start(client, "http://orders/orders/1", loops: 8, requestsPerLoop: 100_000, bound: TimeSpan.FromSeconds(120));
            await Eventually.HoldsAsync(() => Task.FromResult(load.SeenFrom("orders-2") >= 50), TimeSpan.FromSeconds(30), "the load never reached orders-2");

            // The instance is its sidecar: once that is gone nothing reaches the app (stopped too, below).
            var killedAt = DateTime.UtcNow;
            sidecars[1].Signal("KILL");
            await sidecars[1].WaitForExitAsync(TimeSpan.FromSeconds(10));
            var servedAtKill = load.SeenFrom("orders-1") + load.SeenFrom("orders-3");

            // Ejected by the caller's outlier detection at once, while the registry still lists the instance (after
            // the TTL the instance leaves the snapshot, and with it the caller's cluster and its ejection).
            await Eventually.HoldsAsync(async () => await EjectedAsync(sidecarAdmin, inbounds[1]), Ttl / 2, "frontend's sidecar did not eject orders-2");
            Assert.Contains("\"orders-2\"", await registry.GetStringAsync("/admin/services"));
            await apps[1].DisposeAsync();
            await Eventually.HoldsAsync(() => Task.FromResult(load.SeenFrom("orders-1") + load.SeenFrom("orders-3") >= servedAtKill + 300), TimeSpan.FromSeconds(30), "the live instances did not take over");

            // Then it leaves the registry when its lease runs out (no goodbye from a killed process), not before.
            await Eventually.HoldsAsync(async () => !(await registry.GetStringAsync("/admin/services")).Contains("\"orders-2\"", StringComparison.Ordinal),
                TimeSpan.FromSeconds(60), "orders-2 never left the registry");
            var left = DateTime.UtcNow - killedAt;
            Assert.True(left > Ttl / 2, $"orders-2 left the registry {left.TotalSeconds:0.0}s after the kill, well before its {Ttl.TotalSeconds}s TTL");
            var services = await registry.GetStringAsync("/admin/services");
            Assert.Contains("\"orders-1\"", services);
            Assert.Contains("\"orders-3\"", services);

            var servedBeforeStop = load.SeenFrom("orders-1") + load.SeenFrom("orders-3");
            await Eventually.HoldsAsync(() => Task.FromResult(load.SeenFrom("orders-1") + load.SeenFrom("orders-3") >= servedBeforeStop + 100), TimeSpan.FromSeconds(30), "calls stopped after orders-2 left");
            await load.StopAsync();

            Assert.Equal(0, load.Failures);
        });
    }

    /// <summary>Whether the sidecar's /admin/clusters shows the endpoint at <paramref name="inbound"/> of mesh-orders ejected now.</summary>
    private static async Task<bool> EjectedAsync(HttpClient admin, string inbound)
    {
        using var clusters = JsonDocument.Parse(await admin.GetStringAsync("/admin/clusters"));
        var orders = clusters.RootElement.EnumerateArray().Single(c => c.GetProperty("id").GetString() == "mesh-orders");
        return orders.GetProperty("outlierDetection").GetProperty("endpoints").EnumerateArray().Any(e =>
            e.GetProperty("address").GetString()!.Contains(inbound, StringComparison.Ordinal) && e.GetProperty("ejectedUntil").ValueKind == JsonValueKind.String);
    }
}
