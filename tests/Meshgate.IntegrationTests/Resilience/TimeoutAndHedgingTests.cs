using System.Diagnostics;
using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Resilience;

/// <summary>Route deadlines and hedging through the real gateway.</summary>
public sealed class TimeoutAndHedgingTests
{
    [Fact]
    public async Task Timeout_SlowUpstream_504ProblemAndUpstreamRequestCancelled()
    {
        await using var slow = await FaultyUpstream.StartAsync("slow", UpstreamFault.Slow);
        await using var gateway = await TestGateway.StartAsync($$"""
            resilience:
              quick: { timeout: 300ms }
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: pool, resilience: quick }
            clusters:
              - { id: pool, endpoints: ["{{slow.Endpoint}}"] }
            """);

        var watch = Stopwatch.StartNew();
        using var response = await gateway.Client.GetAsync("/x");
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("upstream-timeout", response.Headers.GetValues("x-meshgate-error").Single());
        Assert.Contains("\"status\":504", await response.Content.ReadAsStringAsync());
        await slow.AbortSeen.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Timeout_CoversRetries_504WhenTheDeadlinePassesDuringRetries()
    {
        await using var slow = await FaultyUpstream.StartAsync("slow", UpstreamFault.Slow);
        await using var gateway = await TestGateway.StartAsync($$"""
            resilience:
              p: { timeout: 1s, perTryTimeout: 400ms, retries: { attempts: 5, on: [timeout], backoff: { base: 1ms } } }
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: pool, resilience: p }
            clusters:
              - { id: pool, endpoints: ["{{slow.Endpoint}}"] }
            """);

        var watch = Stopwatch.StartNew();
        using var response = await gateway.Client.GetAsync("/x");
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.InRange(slow.Requests, 2, 3);
    }

    [Fact]
    public async Task PerTryTimeout_NoRetries_504Problem()
    {
        await using var slow = await FaultyUpstream.StartAsync("slow", UpstreamFault.Slow);
        await using var gateway = await TestGateway.StartAsync($$"""
            resilience:
              p: { perTryTimeout: 300ms }
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: pool, resilience: p }
            clusters:
              - { id: pool, endpoints: ["{{slow.Endpoint}}"] }
            """);

        using var response = await gateway.Client.GetAsync("/x");
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream-timeout", response.Headers.GetValues("x-meshgate-error").Single());
        await slow.AbortSeen.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Hedging_SlowFirstEndpoint_HedgeWinsAndSlowAttemptIsCancelled()
    {
        await using var slow = await FaultyUpstream.StartAsync("slow", UpstreamFault.Slow);
        await using var fast = await FaultyUpstream.StartAsync("fast");
        await using var gateway = await TestGateway.StartAsync($$"""
            resilience:
              hedged: { hedging: { delay: 500ms } }
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: pool, resilience: hedged }
            clusters:
              - { id: pool, endpoints: ["{{slow.Endpoint}}", "{{fast.Endpoint}}"] }
            """);

        // Round robin sends one of the two first to the slow endpoint; that one is hedged to the fast one.
        var watch = Stopwatch.StartNew();
        var took = new List<TimeSpan>();
        for (var i = 0; i < 2; i++)
        {
            var started = watch.Elapsed;
            using var response = await gateway.Client.GetAsync("/x?q=1");
            took.Add(watch.Elapsed - started);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("fast", await response.Content.ReadAsStringAsync());
        }
        // Each request's time and what the slow endpoint saw, to tell a late hedge from a request held up behind another.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5),
            $"took {watch.Elapsed}: requests {string.Join(", ", took)}; slow saw {slow.Requests} ({slow.Aborted} aborted), fast {fast.Requests}");
        Assert.Equal(1, slow.Requests);
        Assert.Equal(2, fast.Requests);
        await slow.AbortSeen.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1, slow.Aborted);
    }

    [Fact]
    public async Task Hedging_Post_NeverHedged()
    {
        await using var slow = await FaultyUpstream.StartAsync("slow", UpstreamFault.Slow);
        slow.Delay = TimeSpan.FromMilliseconds(400);
        await using var fast = await FaultyUpstream.StartAsync("fast");
        await using var gateway = await TestGateway.StartAsync($$"""
            resilience:
              hedged: { hedging: { delay: 50ms } }
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: pool, resilience: hedged }
            clusters:
              - { id: pool, endpoints: ["{{slow.Endpoint}}", "{{fast.Endpoint}}"] }
            """);

        var answers = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var response = await gateway.Client.PostAsync("/x", new StringContent("body"));
            answers.Add(await response.Content.ReadAsStringAsync());
        }
        Assert.Equal(["fast", "slow"], answers.Order());
        Assert.Equal(1, slow.Requests);
        Assert.Equal(1, fast.Requests);
    }
}
