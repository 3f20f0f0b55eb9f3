using System.Net;
using Meshgate.Configuration.Model;
using Meshgate.Mesh.Sidecar;
using Meshgate.Roles.Sidecar;
using Meshgate.TestKit;
using Meshgate.TestKit.Mesh;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>
/// The golden metrics per edge, end to end: a real control plane, two real sidecars and real apps on loopback; a known
/// mix of calls from frontend to orders; each sidecar's /metrics (as Prometheus would scrape it) and `meshgate top --mesh`
/// against the live mesh.
/// </summary>
public sealed class MeshMetricsTests : IAsyncLifetime
{
    private const int Succeeding = 20;
    private const int Failing = 5;
    private const string Requests = "meshgate_mesh_requests_total";
    private const string Duration = "meshgate_mesh_request_duration_seconds";

    private TestMesh _mesh = null!;
    private readonly List<IAsyncDisposable> _owned = [];

    public async Task InitializeAsync() => _mesh = await TestMesh.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned)) await owned.DisposeAsync();
        await _mesh.DisposeAsync();
    }

    /// <summary>An app that fails /fail with a 500 and answers anything else with 200.</summary>
    private async Task<TestUpstream> StartAppAsync()
    {
        var app = await TestUpstream.StartAsync(a => a.Run(context =>
        {
            context.Response.StatusCode = context.Request.Path == "/fail" ? 500 : 200;
            return context.Response.WriteAsync("app");
        }));
        _owned.Add(app);
        return app;
    }

    private async Task<SidecarHost> StartSidecarAsync(string service, MeshTlsMode mode = MeshTlsMode.Strict)
    {
        var sidecar = await _mesh.StartSidecarAsync(service, (await StartAppAsync()).Url.Port, o => o with { Mode = mode });
        _owned.Add(sidecar);
        return sidecar;
    }

    /// <summary>
    /// frontend's sidecar knows a live orders instance: the first call goes through (no warm-up call, which would count),
    /// and orders is registered (so the control plane lists it for top --mesh).
    /// </summary>
    private static Task WaitUntilCallerKnowsAsync(SidecarHost caller, string callee) =>
        Eventually.HoldsAsync(() =>
        {
            var state = caller.Gateway.Gateway.Services.GetRequiredService<IProxyStateLookup>();
            return Task.FromResult(state.TryGetCluster(SidecarConfig.MeshCluster(callee), out var cluster) && cluster.DestinationsState.AvailableDestinations.Count > 0);
        }, TimeSpan.FromSeconds(20), $"{callee} is routable from the caller's sidecar");

    /// <summary>The known mix: frontend's app calls orders through its sidecar (as HTTP proxy) 20 times OK and 5 times failing.</summary>
    private async Task<(SidecarHost Frontend, SidecarHost Orders)> CallMixAsync()
    {
        var orders = await StartSidecarAsync("orders");
        var frontend = await StartSidecarAsync("frontend");
        await WaitUntilCallerKnowsAsync(frontend, "orders");
        using var app = new HttpClient(new SocketsHttpHandler { Proxy = new WebProxy(frontend.ListenerUrl(SidecarConfig.OutboundListener)), UseProxy = true });
        for (var i = 0; i < Succeeding; i++)
        {
            using var response = await app.GetAsync($"http://orders/orders/{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        for (var i = 0; i < Failing; i++)
        {
            using var response = await app.GetAsync("http://orders/fail");
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        }
        return (frontend, orders);
    }

    /// <summary>A scrape of the sidecar's /metrics once it has recorded <paramref name="count"/> mesh requests (recorded as each completes, just after the client has its answer).</summary>
    private static async Task<PrometheusScrape> ScrapeAsync(SidecarHost sidecar, double count)
    {
        using var admin = new HttpClient { BaseAddress = sidecar.Gateway.AdminUrl };
        PrometheusScrape? scrape = null;
        await Eventually.HoldsAsync(async () =>
        {
            scrape = await PrometheusScrape.GetAsync(admin);
            return scrape.Sum(Requests) >= count;
        }, TimeSpan.FromSeconds(10), $"{count} mesh requests recorded");
        return scrape!;
    }

    private static (string, string?)[] Edge(string direction, string source, string destination, string? status) =>
    [
        ("direction", direction), ("source_service", source), ("source_namespace", "default"),
        ("destination_service", destination), ("destination_namespace", "default"), ("http_response_status_code", status),
    ];

    [Fact]
    public async Task KnownMix_BothSidecarsCountTheEdge_OutboundAtTheCallerInboundAtTheCallee()
    {
        var (frontend, orders) = await CallMixAsync();

        var caller = await ScrapeAsync(frontend, Succeeding + Failing);
        Assert.Equal(Succeeding, caller.Single(Requests, Edge("outbound", "frontend", "orders", "200")));
        Assert.Equal(Failing, caller.Single(Requests, Edge("outbound", "frontend", "orders", "500")));
        Assert.Equal(Succeeding + Failing, caller.Sum(Requests));
        Assert.Equal(Succeeding, caller.Single(Duration + "_count", Edge("outbound", "frontend", "orders", "200")));
        Assert.Equal(Succeeding, caller.Single(Duration + "_bucket", [.. Edge("outbound", "frontend", "orders", "200"), ("le", "+Inf")]));

        var callee = await ScrapeAsync(orders, Succeeding + Failing);
        Assert.Equal(Succeeding, callee.Single(Requests, Edge("inbound", "frontend", "orders", "200")));
        Assert.Equal(Failing, callee.Single(Requests, Edge("inbound", "frontend", "orders", "500")));
        Assert.Equal(Succeeding + Failing, callee.Sum(Requests));
        Assert.Equal(Failing, callee.Single(Duration + "_count", Edge("inbound", "frontend", "orders", "500")));
        // Bounded labels only: no path, instance address or route in any mesh series.
        Assert.All(callee.Find(Requests).Concat(caller.Find(Requests)), s => Assert.Equal(
            ["destination_namespace", "destination_service", "direction", "http_response_status_code", "source_namespace", "source_service"],
            s.Labels.Keys.Where(k => !k.StartsWith("otel_", StringComparison.Ordinal)).Order(StringComparer.Ordinal)));

        foreach (var scrape in new[] { caller, callee })
        {
            var (exitCode, output) = await Promtool.CheckMetricsAsync(scrape.Text);
            Assert.True(exitCode == 0, $"promtool check metrics exited {exitCode}:\n{output}\n--- scrape ---\n{scrape.Text}");
        }
    }

    [Fact]
    public async Task PlaintextCallerInPermissiveMode_CountsAsSourceUnknown()
    {
        var orders = await StartSidecarAsync("orders", MeshTlsMode.Permissive);
        // Permissive: the inbound listener also takes plain HTTP (its URL says https, what mesh callers use).
        using var plain = new HttpClient { BaseAddress = new UriBuilder(orders.ListenerUrl(SidecarConfig.InboundListener)) { Scheme = "http" }.Uri };
        for (var i = 0; i < 3; i++)
        {
            using var response = await plain.GetAsync("/orders/1");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var scrape = await ScrapeAsync(orders, 3);
        Assert.Equal(3, scrape.Single(Requests,
            ("direction", "inbound"), ("source_service", "unknown"), ("source_namespace", "unknown"), ("destination_service", "orders"), ("http_response_status_code", "200")));
    }

    [Fact]
    public async Task Sidecar_RegistersItsAdminUrl_AndTheControlPlaneListsIt()
    {
        var orders = await StartSidecarAsync("orders");
        await Eventually.HoldsAsync(() => Task.FromResult(orders.Registration?.Registered == true), TimeSpan.FromSeconds(10), "orders registered");

        using var controlPlane = new HttpClient { BaseAddress = _mesh.Server.AdminAddress };
        var services = System.Text.Json.JsonDocument.Parse(await controlPlane.GetStringAsync("/admin/services")).RootElement;
        var instance = services.GetProperty("services").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "orders").GetProperty("instances")[0];
        var admin = instance.GetProperty("labels").GetProperty(InstanceRegistration.AdminLabel).GetString();
        Assert.Equal(orders.Gateway.AdminUrl.ToString().TrimEnd('/'), admin);
    }

    [Fact]
    public async Task TopMeshOnce_LiveMesh_ShowsTheEdgeWithItsCountsAndSuccessRate()
    {
        var (frontend, orders) = await CallMixAsync();
        await ScrapeAsync(frontend, Succeeding + Failing);
        await ScrapeAsync(orders, Succeeding + Failing);
        await Eventually.HoldsAsync(() => Task.FromResult(frontend.Registration?.Registered == true), TimeSpan.FromSeconds(10), "frontend registered");

        var (code, output, error) = await RunAsync("top", "--mesh", "--admin", _mesh.Server.AdminAddress.ToString(), "--once");

        Assert.True(code == 0, error + output);
        Assert.Contains("2 sidecars", output);
        Assert.Contains("since the sidecars started", output);
        var row = Row(output, "frontend -> orders");
        Assert.Equal("outbound", row[0]);
        Assert.Equal((Succeeding + Failing).ToString(), row[1]);
        Assert.Equal("-", row[2]); // no rate without a window
        Assert.Equal("80.0%", row[3]);
        Assert.True(double.Parse(row[4], System.Globalization.CultureInfo.InvariantCulture) > 0, output); // p50 ms
        Assert.True(double.Parse(row[5], System.Globalization.CultureInfo.InvariantCulture) >= double.Parse(row[4], System.Globalization.CultureInfo.InvariantCulture), output);
        Assert.DoesNotContain("unreachable", output);
    }

    [Fact]
    public async Task TopMeshLive_LaterTablesCoverTheirWindow_AndTheirRequestsAddUpToTheCallsMade()
    {
        var (frontend, orders) = await CallMixAsync();
        await ScrapeAsync(frontend, Succeeding + Failing);
        await Eventually.HoldsAsync(() => Task.FromResult(frontend.Registration?.Registered == true), TimeSpan.FromSeconds(10), "frontend registered");
        using var text = new StringWriter();
        // Read while top writes: its writes and the reads below take the synchronized writer's lock.
        var output = TextWriter.Synchronized(text);
        using var error = new StringWriter();
        using var stop = new CancellationTokenSource();
        var top = Cli.RunAsync(["top", "--mesh", "--admin", _mesh.Server.AdminAddress.ToString(), "--interval", "200ms"], output, error, stop.Token);
        await Eventually.HoldsAsync(() => Task.FromResult(Tables(output, text).Count >= 2), TimeSpan.FromSeconds(10), "top drew two tables");

        using var app = new HttpClient(new SocketsHttpHandler { Proxy = new WebProxy(frontend.ListenerUrl(SidecarConfig.OutboundListener)), UseProxy = true });
        for (var i = 0; i < 10; i++) (await app.GetAsync("http://orders/more")).Dispose();
        await ScrapeAsync(frontend, Succeeding + Failing + 10);
        var drawn = Tables(output, text).Count;
        await Eventually.HoldsAsync(() => Task.FromResult(Tables(output, text).Count >= drawn + 2), TimeSpan.FromSeconds(10), "top drew two more tables");
        await stop.CancelAsync();

        Assert.Equal(0, await top);
        var tables = Tables(output, text);
        Assert.Contains("since the sidecars started", tables[0]);
        Assert.Equal((Succeeding + Failing).ToString(), Row(tables[0], "frontend -> orders")[1]);
        Assert.All(tables.Skip(1), t => Assert.Matches(@"last \d+\.\ds per edge", t));
        // Each later table counts what happened since the one before: together, exactly the ten calls made meanwhile.
        Assert.Equal(10, tables.Skip(1).Sum(t => int.Parse(Row(t, "frontend -> orders")[1], System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>The complete tables top has written so far: each ends with a blank line when not drawn on a terminal.</summary>
    /// <param name="output">The synchronized writer top writes to (it locks itself for each write).</param>
    private static List<string> Tables(TextWriter output, StringWriter written)
    {
        string text;
        lock (output) text = written.ToString();
        return text.Split("meshgate top --mesh", StringSplitOptions.RemoveEmptyEntries).Where(t => t.EndsWith("\n\n", StringComparison.Ordinal)).ToList();
    }

    [Fact]
    public async Task TopMesh_UnreachableOrUnlabelledSidecar_OneClearLineEach_TheRestStillShown()
    {
        var (frontend, _) = await CallMixAsync();
        await ScrapeAsync(frontend, Succeeding + Failing);
        var deadPort = DebianServerBinary.FreePort();
        await _mesh.Server.Store.RegisterAsync("payments", "payments-gone", "127.0.0.1", 1, new Dictionary<string, string> { [InstanceRegistration.AdminLabel] = $"http://127.0.0.1:{deadPort}" }, CancellationToken.None);
        await _mesh.Server.Store.RegisterAsync("legacy", "legacy-1", "127.0.0.1", 2, new Dictionary<string, string>(), CancellationToken.None);

        var (code, output, error) = await RunAsync("top", "--mesh", "--admin", _mesh.Server.AdminAddress.ToString(), "--once");

        Assert.Equal(1, code);
        Assert.Equal("", error);
        Assert.Equal((Succeeding + Failing).ToString(), Row(output, "frontend -> orders")[1]);
        var unreachable = output.Split('\n').Where(l => l.StartsWith("unreachable:", StringComparison.Ordinal)).ToList();
        Assert.Equal($"unreachable: payments (payments-gone) at http://127.0.0.1:{deadPort}/metrics: Connection refused (127.0.0.1:{deadPort})", Assert.Single(unreachable).TrimEnd());
        Assert.Single(output.Split('\n'), l => l.StartsWith("not read: legacy (legacy-1) registered no meshgate.admin label", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TopMesh_AdminOfAGatewayNotAControlPlane_SaysWhichUrlToGive()
    {
        var frontend = await StartSidecarAsync("frontend");

        var (code, _, error) = await RunAsync("top", "--mesh", "--admin", frontend.Gateway.AdminUrl.ToString(), "--once");

        Assert.Equal(1, code);
        Assert.Contains("With --mesh, --admin is the control plane's admin URL", error);
    }

    [Fact]
    public async Task TopMesh_ControlPlaneNotListening_OneLineAndExit1()
    {
        var (code, output, error) = await RunAsync("top", "--mesh", "--admin", $"http://127.0.0.1:{DebianServerBinary.FreePort()}", "--once");

        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.StartsWith("cannot reach the admin API at http://127.0.0.1:", error);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Theory]
    [InlineData(new[] { "--admin", "not-a-url" }, "bad --admin URL 'not-a-url'")]
    [InlineData(new[] { "--admin", "ftp://127.0.0.1:1" }, "bad --admin URL 'ftp://127.0.0.1:1'")]
    [InlineData(new[] { "--admin", "http://127.0.0.1:1", "--interval", "10ms" }, "bad --interval '10ms'")]
    [InlineData(new[] { "--admin", "http://127.0.0.1:1", "--interval", "soon" }, "bad --interval 'soon'")]
    public async Task TopMesh_BadOptions_Exit2WithTheReason(string[] options, string message)
    {
        var (code, _, error) = await RunAsync(["top", "--mesh", .. options, "--once"]);

        Assert.Equal(2, code);
        Assert.Contains(message, error);
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Cli.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>The cells after the edge name of the table row that starts with <paramref name="edge"/>.</summary>
    private static string[] Row(string table, string edge) =>
        table.Split('\n').Where(l => l.StartsWith(edge + " ", StringComparison.Ordinal))
            .Select(l => l[edge.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)).Single();
}
