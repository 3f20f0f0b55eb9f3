using System.Net;
using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Resilience;

/// <summary>Circuit breaking: beyond a cluster's limits a request fails at once with 503 and never reaches the upstream.</summary>
public sealed class CircuitBreakingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static string Config(GatedUpstream upstream, string circuitBreaker) => $$"""
        routes:
          - { id: all, match: { path: "/{**rest}" }, cluster: pool }
        clusters:
          - id: pool
            endpoints: ["{{upstream.Endpoint}}"]
            circuitBreaker: {{circuitBreaker}}
        """;

    private static async Task AssertCircuitOpenAsync(HttpResponseMessage response, string limit)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal($"pool; limit={limit}", Assert.Single(response.Headers.GetValues("x-meshgate-circuit-open")));
        Assert.Equal("circuit-open", Assert.Single(response.Headers.GetValues("x-meshgate-error")));
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(503, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains(limit, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static async Task<JsonElement> ClusterViewAsync(TestGateway gateway)
    {
        using var clusters = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/clusters"));
        return clusters.RootElement[0].Clone();
    }

    [Fact]
    public async Task MaxConcurrentRequests_Exceeded_FailsAtOnceWith503AndHeader_ClosesWhenLoadDrops()
    {
        await using var upstream = await GatedUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream, "{ maxConcurrentRequests: 3 }"));

        var held = Enumerable.Range(0, 3).Select(_ => gateway.Client.GetAsync("/slow")).ToList();
        await Eventually.HoldsAsync(() => Task.FromResult(upstream.Received == 3), Timeout, "the first three requests reach the upstream");

        // The upstream still holds the first three: the next two are refused without waiting for it.
        for (var i = 0; i < 2; i++)
        {
            using var refused = await gateway.Client.GetAsync("/slow").WaitAsync(Timeout);
            await AssertCircuitOpenAsync(refused, "max-concurrent-requests");
        }
        Assert.Equal(3, upstream.Received);
        var view = await ClusterViewAsync(gateway);
        Assert.Equal(3, view.GetProperty("circuitBreaker").GetProperty("activeRequests").GetInt32());
        Assert.Equal(2, view.GetProperty("circuitBreaker").GetProperty("rejected").GetProperty("maxConcurrentRequests").GetInt64());
        Assert.Equal(3, view.GetProperty("circuitBreaker").GetProperty("limits").GetProperty("maxConcurrentRequests").GetInt32());

        upstream.Open();
        foreach (var response in await Task.WhenAll(held))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        // The load has dropped: the circuit is closed again.
        using var after = await gateway.Client.GetAsync("/slow");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(4, upstream.Received);
        Assert.Equal(0, (await ClusterViewAsync(gateway)).GetProperty("circuitBreaker").GetProperty("activeRequests").GetInt32());
    }

    [Fact]
    public async Task MaxConnectionsPerEndpoint_MoreConcurrentRequests_UpstreamSeesAtMostThatManyConnections()
    {
        await using var upstream = await GatedUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream, "{ maxConnectionsPerEndpoint: 2 }"));

        var requests = Enumerable.Range(0, 6).Select(_ => gateway.Client.GetAsync("/slow")).ToList();
        await Eventually.HoldsAsync(() => Task.FromResult(upstream.Received == 2), Timeout, "two requests reach the upstream");
        // The others wait for one of the two connections; give them time to (wrongly) open more.
        await Task.Delay(300);
        Assert.Equal(2, upstream.Received);

        upstream.Open();
        foreach (var response in await Task.WhenAll(requests))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
        Assert.Equal(6, upstream.Received);
        Assert.Equal(2, upstream.MaxInFlight);
        Assert.InRange(upstream.Connections, 1, 2);
    }

    [Fact]
    public async Task MaxPendingRequests_Exceeded_FailsAtOnceWith503AndHeader()
    {
        await using var upstream = await GatedUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream, "{ maxConnectionsPerEndpoint: 1, maxPendingRequests: 1 }"));

        var onConnection = gateway.Client.GetAsync("/slow");
        await Eventually.HoldsAsync(() => Task.FromResult(upstream.Received == 1), Timeout, "the first request reaches the upstream");
        var pending = gateway.Client.GetAsync("/slow");
        await Eventually.HoldsAsync(async () => (await ClusterViewAsync(gateway)).GetProperty("endpoints")[0].GetProperty("activeRequests").GetInt32() == 2,
            Timeout, "the second request waits for the endpoint's one connection");

        using (var refused = await gateway.Client.GetAsync("/slow").WaitAsync(Timeout))
        {
            await AssertCircuitOpenAsync(refused, "max-pending-requests");
        }
        Assert.Equal(1, upstream.Received);
        Assert.Equal(1, (await ClusterViewAsync(gateway)).GetProperty("circuitBreaker").GetProperty("rejected").GetProperty("maxPendingRequests").GetInt64());

        upstream.Open();
        using var first = await onConnection;
        using var second = await pending;
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(2, upstream.Received);
        Assert.Equal(1, upstream.MaxInFlight);
    }

    [Fact]
    public async Task Reload_RaisesLimit_NewRequestsUseItAndInFlightOnesFinish()
    {
        await using var upstream = await GatedUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream, "{ maxConcurrentRequests: 2 }"));
        var held = Enumerable.Range(0, 2).Select(_ => gateway.Client.GetAsync("/slow")).ToList();
        await Eventually.HoldsAsync(() => Task.FromResult(upstream.Received == 2), Timeout, "two requests reach the upstream");
        using (var refused = await gateway.Client.GetAsync("/slow"))
        {
            await AssertCircuitOpenAsync(refused, "max-concurrent-requests");
        }

        var generation = await gateway.GenerationAsync();
        await gateway.RewriteConfigAsync(Config(upstream, "{ maxConcurrentRequests: 3 }"));
        await Eventually.HoldsAsync(async () => await gateway.GenerationAsync() > generation, Timeout, "the reload is applied");

        // The two in flight still count against the new limit: one more fits, the next does not.
        held.Add(gateway.Client.GetAsync("/slow"));
        await Eventually.HoldsAsync(() => Task.FromResult(upstream.Received == 3), Timeout, "the third request reaches the upstream");
        using (var refused = await gateway.Client.GetAsync("/slow"))
        {
            await AssertCircuitOpenAsync(refused, "max-concurrent-requests");
        }

        upstream.Open();
        foreach (var response in await Task.WhenAll(held))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
    }

    [Fact]
    public async Task NoCircuitBreaker_ManyConcurrentRequests_AllForwarded()
    {
        await using var upstream = await GatedUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: pool }
            clusters:
              - id: pool
                endpoints: ["{{upstream.Endpoint}}"]
            """);

        var requests = Enumerable.Range(0, 20).Select(_ => gateway.Client.GetAsync("/slow")).ToList();
        await Eventually.HoldsAsync(() => Task.FromResult(upstream.Received == 20), Timeout, "every request reaches the upstream");
        upstream.Open();
        foreach (var response in await Task.WhenAll(requests))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
        Assert.Equal(JsonValueKind.Null, (await ClusterViewAsync(gateway)).GetProperty("circuitBreaker").ValueKind);
    }
}
