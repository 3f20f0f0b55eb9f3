using System.Net;
using Meshgate.Mesh.Sidecar;
using Meshgate.Roles.Sidecar;
using Meshgate.TestKit;
using Meshgate.TestKit.Mesh;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Meshgate.Configuration.Model;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>
/// Sidecars end to end, in-process: a real control plane with its CA, real sidecars (each a gateway running its generated
/// config, with a certificate from the CA) and real apps. The app's call goes app → its sidecar (as HTTP proxy) →
/// mTLS → the callee's sidecar → the callee app.
/// </summary>
public sealed class SidecarTests : IAsyncLifetime
{
    private TestMesh _mesh = null!;
    private readonly List<IAsyncDisposable> _owned = [];

    public async Task InitializeAsync() => _mesh = await TestMesh.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned)) await owned.DisposeAsync();
        await _mesh.DisposeAsync();
    }

    /// <summary>An app that answers with who called it, as its sidecar told it (x-forwarded-client-cert).</summary>
    private async Task<TestUpstream> StartAppAsync(string name)
    {
        var app = await TestUpstream.StartAsync(a => a.Run(context =>
            context.Response.WriteAsync($"{name} {context.Request.Method} {context.Request.Path} xfcc={context.Request.Headers["x-forwarded-client-cert"]}")));
        _owned.Add(app);
        return app;
    }

    private async Task<SidecarHost> StartSidecarAsync(string service, int appPort, IReadOnlyDictionary<string, int>? servicePorts = null, ForwarderMode meshForwarder = ForwarderMode.Auto)
    {
        var sidecar = await _mesh.StartSidecarAsync(service, appPort, o => o with { ServicePorts = servicePorts ?? new Dictionary<string, int>(), MeshForwarder = meshForwarder });
        _owned.Add(sidecar);
        return sidecar;
    }

    /// <summary>The app's HTTP client, with its sidecar as HTTP proxy (what HTTP_PROXY does for .NET, curl, Go, Node, Python).</summary>
    private static HttpClient ClientThrough(SidecarHost sidecar) =>
        new(new SocketsHttpHandler { Proxy = new WebProxy(sidecar.ListenerUrl(SidecarConfig.OutboundListener)), UseProxy = true });

    private async Task WaitUntilRoutableAsync(HttpClient client, string url) =>
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await client.GetAsync(url);
            return response.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(20), $"{url} answers 200 through the sidecar");

    [Fact]
    public async Task AppCallsAnotherServiceByName_ThroughTwoSidecarsWithMtls_AndTheCalleeSeesTheCallersIdentity()
    {
        var orders = await StartAppAsync("orders");
        var frontend = await StartAppAsync("frontend");
        await StartSidecarAsync("orders", orders.Url.Port);
        var frontendSidecar = await StartSidecarAsync("frontend", frontend.Url.Port);
        using var client = ClientThrough(frontendSidecar);

        await WaitUntilRoutableAsync(client, "http://orders/warm-up");
        using var response = await client.GetAsync("http://orders/orders/42");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.StartsWith("orders GET /orders/42 ", body);
        Assert.Contains($"URI={_mesh.SpiffeIdOf("frontend")}", body);
        Assert.Contains($"By={_mesh.SpiffeIdOf("orders")}", body);
    }

    [Theory]
    [InlineData(ForwarderMode.Auto)]
    [InlineData(ForwarderMode.Yarp)]
    [InlineData(ForwarderMode.Direct)]
    public async Task MeshForwarderOption_ChoosesWhoCarriesTheMeshHop_AndEachReachesTheCallee(ForwarderMode meshForwarder)
    {
        var orders = await StartAppAsync("orders");
        await StartSidecarAsync("orders", orders.Url.Port);
        var frontendSidecar = await StartSidecarAsync("frontend", (await StartAppAsync("frontend")).Url.Port, meshForwarder: meshForwarder);
        using var client = ClientThrough(frontendSidecar);
        await WaitUntilRoutableAsync(client, "http://orders/warm-up");

        var body = await client.GetStringAsync("http://orders/orders/9");

        Assert.StartsWith("orders GET /orders/9 ", body);
        Assert.Contains($"URI={_mesh.SpiffeIdOf("frontend")}", body);
        // The calling sidecar's only cluster in use is the mesh one: its direct path forwarded the calls, or nothing.
        var direct = frontendSidecar.Gateway.Gateway.Services.GetRequiredService<Proxy.Upstream.Http1.Http1ConnectionPool>().Requests;
        // auto leaves a mesh hop to YARP (HTTP/2 over mTLS multiplexes; docs/performance.md), direct takes the direct path.
        if (meshForwarder == ForwarderMode.Direct) Assert.True(direct > 0, "the mesh hop did not take the direct path");
        else Assert.Equal(0, direct);
        Assert.Contains(meshForwarder switch { ForwarderMode.Yarp => "forwarder: yarp", ForwarderMode.Direct => "forwarder: direct", _ => "discovery: mesh, service: \"orders\" }" }, frontendSidecar.ConfigYaml);
    }

    [Fact]
    public async Task OverATlsControlPlane_SidecarsGetCertificatesWatchAndRegister()
    {
        await _mesh.DisposeAsync();
        _mesh = await TestMesh.StartAsync(tls: true);
        Assert.StartsWith("https://", _mesh.ControlPlaneUrl.ToString());
        var orders = await StartAppAsync("orders");
        var ordersSidecar = await StartSidecarAsync("orders", orders.Url.Port);
        var frontend = await StartSidecarAsync("frontend", (await StartAppAsync("frontend")).Url.Port);
        using var client = ClientThrough(frontend);

        await WaitUntilRoutableAsync(client, "http://orders/orders/5");

        Assert.Contains($"URI={_mesh.SpiffeIdOf("frontend")}", await client.GetStringAsync("http://orders/orders/5"));
        await Eventually.HoldsAsync(() => Task.FromResult(ordersSidecar.Registration?.Registered == true), TimeSpan.FromSeconds(10), "orders registered over TLS");
    }

    [Fact]
    public async Task AllowRules_LetOnlyTheNamedCallerUseTheNamedMethodsAndPaths()
    {
        var policies = Path.Combine(_mesh.Directory, "policies.yaml");
        await File.WriteAllTextAsync(policies, """
            services:
              orders:
                allow:
                  - { from: frontend, methods: [GET], pathPrefix: /orders }
            """);
        Assert.Empty(_mesh.Server.ReloadPolicies(policies));
        var orders = await StartAppAsync("orders");
        await StartSidecarAsync("orders", orders.Url.Port);
        var frontend = await StartSidecarAsync("frontend", (await StartAppAsync("frontend")).Url.Port);
        var intruder = await StartSidecarAsync("intruder", (await StartAppAsync("intruder")).Url.Port);
        using var asFrontend = ClientThrough(frontend);
        using var asIntruder = ClientThrough(intruder);
        await WaitUntilRoutableAsync(asFrontend, "http://orders/orders/1");

        using var allowed = await asFrontend.GetAsync("http://orders/orders/1");
        using var wrongMethod = await asFrontend.PostAsync("http://orders/orders/1", new StringContent("{}"));
        using var wrongPath = await asFrontend.GetAsync("http://orders/admin");
        using var wrongCaller = await asIntruder.GetAsync("http://orders/orders/1");

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, wrongMethod.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, wrongPath.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, wrongCaller.StatusCode);
        Assert.Equal("application/problem+json", wrongCaller.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task FixedServicePort_ReachesTheService_ForAppsWithoutProxySupport()
    {
        var orders = await StartAppAsync("orders");
        await StartSidecarAsync("orders", orders.Url.Port);
        var port = DebianServerBinary.FreePort();
        await StartSidecarAsync("frontend", (await StartAppAsync("frontend")).Url.Port, new Dictionary<string, int> { ["orders"] = port });
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await WaitUntilRoutableAsync(client, "/ping");

        var body = await client.GetStringAsync("/orders/7");

        Assert.StartsWith("orders GET /orders/7 ", body);
        Assert.Contains($"URI={_mesh.SpiffeIdOf("frontend")}", body);
    }

    [Fact]
    public async Task UnknownServiceName_Is404_AndPlaintextToTheInboundSideIsRefused()
    {
        var orders = await StartAppAsync("orders");
        var ordersSidecar = await StartSidecarAsync("orders", orders.Url.Port);
        var frontend = await StartSidecarAsync("frontend", (await StartAppAsync("frontend")).Url.Port);
        using var client = ClientThrough(frontend);

        using var unknown = await client.GetAsync("http://billing/x");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        // STRICT: a caller without a mesh certificate gets no answer from the inbound listener at all.
        var inbound = ordersSidecar.ListenerUrl(SidecarConfig.InboundListener);
        using var plain = new HttpClient();
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync($"http://127.0.0.1:{inbound.Port}/orders/1"));
    }

    [Fact]
    public async Task StoppedSidecar_LeavesTheRegistryAtOnce()
    {
        var orders = await StartSidecarAsync("orders", (await StartAppAsync("orders")).Url.Port);
        await Eventually.HoldsAsync(() => Task.FromResult(orders.Registration?.Registered == true), TimeSpan.FromSeconds(10), "orders is registered");
        Assert.Contains(_mesh.Server.Registry.Instances, i => i.Service == "orders");

        await orders.StopAsync();
        Assert.False(orders.Registration?.Registered, "deregistered by the stop");

        Assert.DoesNotContain(_mesh.Server.Registry.Instances, i => i.Service == "orders");
    }

    [Fact]
    public async Task ControlPlaneStoppedAndRestartedUnderLoad_NoCallFails()
    {
        await _mesh.DisposeAsync();
        _mesh = await TestMesh.StartAsync(keepState: true);
        await StartSidecarAsync("orders", (await StartAppAsync("orders")).Url.Port);
        var frontend = await StartSidecarAsync("frontend", (await StartAppAsync("frontend")).Url.Port);
        using var client = ClientThrough(frontend);
        await WaitUntilRoutableAsync(client, "http://orders/warm-up");

        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var succeeded = 0;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await client.GetAsync("http://orders/orders/1");
                    if (response.StatusCode == HttpStatusCode.OK) Interlocked.Increment(ref succeeded);
                    else failures.Add($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                }
                catch (HttpRequestException e)
                {
                    failures.Add(e.Message);
                }
            }
        })).ToList();
        await Task.Delay(500);
        await _mesh.StopControlPlaneAsync();
        await Task.Delay(1500);
        var duringOutage = Volatile.Read(ref succeeded);
        await _mesh.RestartControlPlaneAsync();
        // Both sidecars watch again, and the restored registry still routes to orders.
        await Eventually.HoldsAsync(() => Task.FromResult(_mesh.Server.Registry.Instances.Any(i => i.Service == "orders")), TimeSpan.FromSeconds(15), "orders is registered after the restart");
        await Task.Delay(1000);
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        Assert.Empty(failures);
        Assert.True(duringOutage > 0 && succeeded > duringOutage, $"calls went on during the outage ({duringOutage}) and after it ({succeeded})");
    }
}
