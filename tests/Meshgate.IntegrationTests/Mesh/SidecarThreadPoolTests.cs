using Meshgate.Mesh.CertificateAuthority;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>
/// The `meshgate sidecar` process starts with the thread pool's idle workers not spinning (the runtime's
/// System.Threading.ThreadPool.UnfairSemaphoreSpinLimit = 0, docs/performance.md "Sidecar hops at a moderate rate"),
/// set before its thread pool started, so the runtime reads it; the runtime's own variable still wins, and the gateway
/// keeps the runtime's default.
/// </summary>
public sealed class SidecarThreadPoolTests : IAsyncLifetime
{
    private const string TurnedOff = "thread-pool workers do not spin before they sleep (System.Threading.ThreadPool.UnfairSemaphoreSpinLimit=0, set before the thread pool started";
    private readonly List<IAsyncDisposable> _owned = [];
    private string _directory = null!;

    public Task InitializeAsync()
    {
        _directory = Directory.CreateTempSubdirectory("meshgate-spin-").FullName;
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

    private static string Loopback() => "127.0.0.1:" + DebianServerBinary.FreePort();

    /// <summary>A control plane with its CA, an app, and a sidecar process beside it with <paramref name="environment"/>; returns the sidecar once it logged its start.</summary>
    private async Task<MeshgateProcess> StartSidecarAsync(Dictionary<string, string> environment)
    {
        const string token = "token-app-0123456789abcdef";
        var tokens = Path.Combine(_directory, "ca-tokens.txt");
        await File.WriteAllTextAsync(tokens, $"default app {BootstrapToken.Hash(token)}\n");
        var tokenFile = Path.Combine(_directory, "app.token");
        await File.WriteAllTextAsync(tokenFile, token + "\n");
        var trustBundle = Path.Combine(_directory, "control-plane-ca.pem");
        var grpc = Loopback();
        var controlPlane = Own(MeshgateProcess.Start("control-plane", "--listen", grpc, "--admin", Loopback(),
            "--ca-state-dir", Path.Combine(_directory, "ca"), "--ca-trust-domain", "mesh.test", "--ca-tokens-file", tokens, "--write-trust-bundle", trustBundle));
        await controlPlane.WaitForListenersAsync(2, TimeSpan.FromSeconds(60));
        var app = Own(await TestUpstream.StartAsync(a => a.Run(context => context.Response.WriteAsync("app"))));
        var sidecar = Own(MeshgateProcess.Start(["sidecar", "--service", "app", "--app-port", app.Url.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--control-plane", $"https://{grpc}", "--control-plane-ca", trustBundle, "--token-file", tokenFile, "--instance-id", "app-1",
            "--inbound", Loopback(), "--outbound", Loopback(), "--admin", Loopback()], environment: environment));
        // The line is logged once the listeners are up (the workload certificate obtained).
        await Eventually.HoldsAsync(() => Task.FromResult(sidecar.Output.Contains("Sidecar: thread-pool", StringComparison.Ordinal) || sidecar.HasExited),
            TimeSpan.FromSeconds(90), "the sidecar never said how its thread pool runs");
        Assert.False(sidecar.HasExited, sidecar.Output);
        return sidecar;
    }

    [Fact]
    public async Task SidecarProcess_StartsWithThreadPoolSpinningOff_BeforeThePoolStarted()
    {
        var sidecar = await StartSidecarAsync([]);

        Assert.Contains(TurnedOff, sidecar.Output);
    }

    [Fact]
    public async Task SidecarProcess_RuntimeVariableSet_LeavesTheOperatorsValue()
    {
        // 0x46 = 70, the runtime's default: an operator who wants spinning back says so with the runtime's own variable.
        var sidecar = await StartSidecarAsync(new() { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "46" });

        Assert.Contains("thread-pool spinning left as the environment sets it (DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=46)", sidecar.Output);
        Assert.DoesNotContain(TurnedOff, sidecar.Output);
    }

    [Fact]
    public async Task GatewayProcess_KeepsTheRuntimesDefault()
    {
        var app = Own(await TestUpstream.StartAsync(a => a.Run(context => context.Response.WriteAsync("app"))));
        var config = Path.Combine(_directory, "meshgate.yaml");
        await File.WriteAllTextAsync(config, $$"""
            listeners:
              - name: public
                address: 127.0.0.1:0
            admin:
              address: 127.0.0.1:0
            routes:
              - id: all
                match: { pathPrefix: / }
                cluster: app
            clusters:
              - id: app
                endpoints: ["{{app.Endpoint}}"]
            """);
        var gateway = Own(MeshgateProcess.Start("gateway", "-c", config));
        var urls = await gateway.WaitForListenersAsync(2, TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = urls[0], Timeout = TimeSpan.FromSeconds(30) };

        await gateway.CheckAsync(async () =>
        {
            Assert.Equal("app", await client.GetStringAsync("/"));
            Assert.DoesNotContain("thread-pool", gateway.Output);
        });
    }
}
