using System.Net;
using Meshgate.IntegrationTests.Forwarding;
using Meshgate.Proxy.Upstream;
using Meshgate.Proxy.Upstream.Http1;
using Meshgate.TestKit;
using Meshgate.TestKit.Mesh;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.Upstream;

/// <summary>
/// The direct path's pools across config reloads: an endpoint a reload removes loses its idle connections (its requests
/// in flight finish first), a reload that changes a cluster's TLS settings leaves one TLS policy and one pool, and a
/// reload that only changes the case of an endpoint's host keeps its connections.
/// </summary>
public sealed class DirectPoolReloadTests
{
    private static string Config(string endpoint, string tls = "") => $$"""
        routes:
          - id: all
            match: { path: "/{**rest}" }
            cluster: up
        clusters:
          - id: up
            endpoints: ["{{endpoint}}"]
            forwarder: direct
        {{tls}}
        """;

    private static Http1ConnectionPool Pool(TestGateway gateway) => gateway.Host.Gateway.Services.GetRequiredService<Http1ConnectionPool>();

    private static Task ReloadedAsync(TestGateway gateway, int generation) =>
        Eventually.HoldsAsync(async () => await gateway.GenerationAsync() == generation, TimeSpan.FromSeconds(10), $"config generation {generation} was not applied");

    [Fact]
    public async Task ReloadRemovingEndpoint_ClosesItsIdleConnections_WhileTheRequestInFlightOnItCompletes()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var removed = RawUpstream.Start(async request =>
        {
            if (request.Target.StartsWith("/slow", StringComparison.Ordinal)) await release.Task;
            return new RawAnswer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nold");
        });
        await using var kept = RawUpstream.Start(_ => new RawAnswer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"));
        await using var gateway = await TestGateway.StartAsync(Config(removed.Endpoint));
        try
        {
            var slow = gateway.Client.GetStringAsync("/slow");
            await Eventually.HoldsAsync(() => Task.FromResult(removed.Requests == 1), TimeSpan.FromSeconds(10), "the slow request did not reach the upstream");
            // A second connection (the first is busy), idle once this answer is in.
            Assert.Equal("old", await gateway.Client.GetStringAsync("/fast"));
            Assert.Equal(2, removed.Connections);
            Assert.Equal(0, removed.Closed);

            await gateway.RewriteConfigAsync(Config(kept.Endpoint));
            await ReloadedAsync(gateway, 2);

            await Eventually.HoldsAsync(() => Task.FromResult(removed.Closed == 1), TimeSpan.FromSeconds(10), "the idle connection to the removed endpoint stayed open");
            Assert.False(slow.IsCompleted, "the request in flight ended before the upstream answered");
            release.SetResult();
            Assert.Equal("old", await slow);
            // Its connection is closed once its request is done, not pooled again.
            await Eventually.HoldsAsync(() => Task.FromResult(removed.Closed == 2), TimeSpan.FromSeconds(10), "the connection of the request in flight stayed open after it");
            Assert.Equal("new", await gateway.Client.GetStringAsync("/after"));
            Assert.Equal(1, Pool(gateway).Destinations);
            Assert.Equal(1, kept.Connections);
            gateway.AssertServedBy("direct");
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Fact]
    public async Task ReloadChangingOnlyTheHostsCase_KeepsTheEndpointsConnection()
    {
        await using var upstream = RawUpstream.Start(_ => new RawAnswer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        var lower = upstream.Endpoint.Replace("127.0.0.1", "localhost", StringComparison.Ordinal);
        await using var gateway = await TestGateway.StartAsync(Config(lower));
        Assert.Equal("ok", await gateway.Client.GetStringAsync("/one"));

        await gateway.RewriteConfigAsync(Config(lower.Replace("localhost", "LocalHost", StringComparison.Ordinal)));
        await ReloadedAsync(gateway, 2);
        // Let the pruning after the swap run: a request on a table keyed case-sensitively would open a second connection.
        await Eventually.HoldsAsync(async () => await gateway.Client.GetStringAsync("/two") == "ok" && Pool(gateway).Destinations == 1, TimeSpan.FromSeconds(10), "the pool kept one destination");
        Assert.Equal("ok", await gateway.Client.GetStringAsync("/three"));

        Assert.Equal(1, upstream.Connections);
        Assert.Equal(0, upstream.Closed);
        Assert.Equal(1, gateway.DirectConnectionsOpened());
    }

    [Fact]
    public async Task ReloadChangingTlsSettings_NTimes_LeavesOneTlsPolicyAndOnePool()
    {
        var directory = TempDirectory.Create();
        using var upstreamCa = new TestCertificates(directory, "Upstream CA");
        var (certificate, _, _) = upstreamCa.Issue("upstream.test");
        await using var upstream = await TestUpstream.StartAsync(
            app => app.Run(context => context.Response.WriteAsync("tls")),
            HttpProtocols.Http1AndHttp2,
            listen: o => o.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = certificate }));
        // Each config trusts the upstream's CA and one more, new each time: a new CA bundle, so new TLS settings.
        string ConfigTrusting(int round)
        {
            using var extra = new TestCertificates(directory, $"Extra CA {round}");
            var bundle = Path.Combine(directory, $"bundle-{round}.pem");
            File.WriteAllText(bundle, File.ReadAllText(upstreamCa.CaPath) + "\n" + File.ReadAllText(extra.CaPath));
            return Config(upstream.Endpoint, $"    tls: {{ ca: \"{bundle}\" }}");
        }
        await using var gateway = await TestGateway.StartAsync(ConfigTrusting(0), Directory.CreateDirectory(Path.Combine(directory, "gateway")).FullName);
        var policies = gateway.Host.Gateway.Services.GetRequiredService<UpstreamTlsPolicies>();

        const int Reloads = 4;
        Assert.Equal("tls", await gateway.Client.GetStringAsync("/x"));
        for (var round = 1; round <= Reloads; round++)
        {
            await gateway.RewriteConfigAsync(ConfigTrusting(round));
            await ReloadedAsync(gateway, round + 1);
            // The new settings' policy takes the requests (a stale endpoint could still use the old one for a moment).
            await Eventually.HoldsAsync(async () => await gateway.Client.GetStringAsync("/x") == "tls", TimeSpan.FromSeconds(10), "the upstream answers after the reload");
        }

        await Eventually.HoldsAsync(() => Task.FromResult(policies.Count == 1 && Pool(gateway).Destinations == 1), TimeSpan.FromSeconds(10),
            $"after {Reloads} reloads: {policies.Count} TLS policies and {Pool(gateway).Destinations} pools kept");
        gateway.AssertServedBy("direct");
    }

    [Fact]
    public async Task MeshInstanceDeregistered_ItsPoolIsDropped()
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        var one = await mesh.StartInstanceAsync("orders", "orders-1");
        var two = await mesh.StartInstanceAsync("orders", "orders-2");
        var yaml = mesh.MeshSection() + """
            routes:
              - { id: orders, match: { pathPrefix: / }, cluster: orders }
            clusters:
              - { id: orders, discovery: mesh, service: orders, forwarder: direct }
            """;
        await using var gateway = await TestGateway.StartAsync(yaml, identity: mesh.IssueIdentity("gateway"));
        var seen = new HashSet<string>();
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await gateway.Client.GetAsync("/orders/1");
            if (response.Headers.TryGetValues("x-upstream", out var values)) seen.Add(values.Single());
            return seen.Count == 2;
        }, TimeSpan.FromSeconds(10), "both instances answered through the gateway");
        Assert.Equal(2, Pool(gateway).Destinations);

        await mesh.DeregisterAsync(one);

        await Eventually.HoldsAsync(() => Task.FromResult(Pool(gateway).Destinations == 1), TimeSpan.FromSeconds(10), "the deregistered instance's pool was kept");
        using var after = await gateway.Client.GetAsync("/orders/2");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal("orders-2", after.Headers.GetValues("x-upstream").Single());
        gateway.AssertServedBy("direct");
    }
}
