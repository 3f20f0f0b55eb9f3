using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Meshgate.Proxy.FrontEnd;
using Meshgate.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.FrontEnd;

/// <summary>
/// Routes with a resilience policy under the direct front end (docs/front-end.md): retries on another endpoint, per-try
/// and whole-request timeouts, each run with <c>frontEnd: auto</c> and <c>frontEnd: kestrel</c> against real upstreams
/// that fail, and the answers compared.
/// </summary>
public sealed class FrontEndResilienceTests
{
    private static string Config(string frontEnd, string policy, params string[] endpoints) => $$"""
        listeners:
          - name: web
            address: 127.0.0.1:0
            frontEnd: {{frontEnd}}
        resilience:
          p: {{policy}}
        routes:
          - { id: all, match: { path: "/{**rest}" }, cluster: pool, resilience: p }
        clusters:
          - id: pool
            loadBalancing: round-robin
            endpoints: [{{string.Join(", ", endpoints.Select(e => $"\"{e}\""))}}]
        """;

    private static long Served(TestGateway gateway) => gateway.Host.Gateway.Services.GetRequiredService<DirectFrontEnd>().Served;

    /// <summary>Status, the answering upstream (x-upstream) and the problem's type, for comparing the two ways.</summary>
    private static async Task<string> SeenAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        var upstream = response.Headers.TryGetValues("x-upstream", out var names) ? names.Single() : "-";
        var type = response.Content.Headers.ContentType?.MediaType == "application/problem+json" ? JsonDocument.Parse(body).RootElement.GetProperty("type").GetString() : body;
        return $"{(int)response.StatusCode} {upstream} {type}";
    }

    [Fact]
    public async Task StatusAndResets_RetriedOnAnotherEndpoint_NothingOfTheFailureReachesTheClient()
    {
        foreach (var frontEnd in new[] { "auto", "kestrel" })
        {
            await using var failing = await FaultyUpstream.StartAsync("failing");
            await using var healthy = await FaultyUpstream.StartAsync("healthy");
            failing.Fault = UpstreamFault.Status;
            await using var gateway = await TestGateway.StartAsync(Config(frontEnd,
                "{ retries: { attempts: 2, on: [gateway-error, reset, connect-failure], backoff: { base: 1ms, max: 5ms } } }", failing.Endpoint, healthy.Endpoint));

            var seen = new List<string>();
            for (var i = 0; i < 4; i++)
            {
                using var response = await gateway.Client.GetAsync($"/orders/{i}");
                seen.Add(await SeenAsync(response));
            }
            failing.Fault = UpstreamFault.ResetBeforeHeaders;
            for (var i = 0; i < 4; i++)
            {
                using var response = await gateway.Client.GetAsync($"/orders/{i}");
                seen.Add(await SeenAsync(response));
            }

            Assert.All(seen, s => Assert.Equal("200 healthy healthy", s));
            // Round robin sends every other first attempt to the failing endpoint; each of those is retried on the healthy one.
            Assert.Equal(4, failing.Requests);
            Assert.Equal(8, healthy.Requests);
            Assert.Equal(frontEnd == "auto" ? 8 : 0, Served(gateway));
        }
    }

    [Fact]
    public async Task AttemptsUsedUp_TheLastAnswerGoesToTheClient()
    {
        var seen = new Dictionary<string, string>();
        foreach (var frontEnd in new[] { "auto", "kestrel" })
        {
            await using var failing = await FaultyUpstream.StartAsync("failing");
            failing.Fault = UpstreamFault.Status;
            await using var gateway = await TestGateway.StartAsync(Config(frontEnd, "{ retries: { attempts: 3, on: [gateway-error], backoff: { base: 1ms, max: 5ms } } }", failing.Endpoint));
            using var response = await gateway.Client.GetAsync("/orders");
            seen[frontEnd] = await SeenAsync(response);
            Assert.Equal(3, failing.Requests);
        }
        Assert.Equal(seen["kestrel"], seen["auto"]);
        Assert.StartsWith("503 failing", seen["auto"]);
    }

    [Fact]
    public async Task StatusNotInThePolicysConditions_NotRetried()
    {
        var seen = new Dictionary<string, List<string>>();
        foreach (var frontEnd in new[] { "auto", "kestrel" })
        {
            await using var failing = await FaultyUpstream.StartAsync("failing");
            await using var healthy = await FaultyUpstream.StartAsync("healthy");
            failing.Fault = UpstreamFault.Status;
            await using var gateway = await TestGateway.StartAsync(Config(frontEnd, "{ retries: { attempts: 2, on: [connect-failure, reset] } }", failing.Endpoint, healthy.Endpoint));
            // Round robin: every other request goes to the failing endpoint, whose 503 the policy does not retry.
            var run = seen[frontEnd] = [];
            for (var i = 0; i < 4; i++)
            {
                using var response = await gateway.Client.GetAsync("/orders");
                run.Add(await SeenAsync(response));
            }
            run.Sort(StringComparer.Ordinal);
            Assert.Equal(2, failing.Requests);
        }
        Assert.Equal(seen["kestrel"], seen["auto"]);
        Assert.Equal(["200 healthy healthy", "200 healthy healthy"], seen["auto"][..2]);
        Assert.All(seen["auto"][2..], s => Assert.StartsWith("503 failing", s));
    }

    [Fact]
    public async Task PerTryTimeout_ASlowEndpointIsLeftForAnother_WithinTheTimeout()
    {
        foreach (var frontEnd in new[] { "auto", "kestrel" })
        {
            await using var slow = await FaultyUpstream.StartAsync("slow");
            await using var healthy = await FaultyUpstream.StartAsync("healthy");
            slow.Fault = UpstreamFault.Slow;
            await using var gateway = await TestGateway.StartAsync(Config(frontEnd,
                "{ perTryTimeout: 200ms, retries: { attempts: 2, on: [timeout], backoff: { base: 1ms, max: 5ms } } }", slow.Endpoint, healthy.Endpoint));

            // Round robin: one of two requests meets the slow endpoint first, waits out the per-try timeout, and is retried.
            var times = new List<TimeSpan>();
            for (var i = 0; i < 2; i++)
            {
                var clock = Stopwatch.StartNew();
                using var response = await gateway.Client.GetAsync("/orders");
                Assert.Equal("200 healthy healthy", await SeenAsync(response));
                times.Add(clock.Elapsed);
            }
            Assert.InRange(times.Max(), TimeSpan.FromMilliseconds(190), TimeSpan.FromSeconds(5));
            Assert.Equal(1, slow.Requests);
            // The slow endpoint's request was abandoned, not left to run.
            await slow.AbortSeen.Task.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(frontEnd == "auto" ? 2 : 0, Served(gateway));
        }
    }

    [Fact]
    public async Task WholeRequestTimeout_Answers504_AndStopsTheRetries()
    {
        var seen = new Dictionary<string, string>();
        foreach (var frontEnd in new[] { "auto", "kestrel" })
        {
            await using var slow = await FaultyUpstream.StartAsync("slow");
            slow.Fault = UpstreamFault.Slow;
            await using var gateway = await TestGateway.StartAsync(Config(frontEnd, "{ timeout: 300ms, perTryTimeout: 200ms, retries: { attempts: 5, on: [timeout], backoff: { base: 50ms, max: 50ms } } }", slow.Endpoint));

            var clock = Stopwatch.StartNew();
            using var response = await gateway.Client.GetAsync("/orders");
            seen[frontEnd] = await SeenAsync(response);
            Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(290), TimeSpan.FromSeconds(5));
            // 200 ms, a 25-50 ms wait, then the second attempt cut short by the whole deadline: never a third.
            Assert.Equal(2, slow.Requests);
        }
        Assert.Equal(seen["kestrel"], seen["auto"]);
        Assert.Equal("504 - https://meshgate.dev/errors/upstream-timeout", seen["auto"]);
    }
}
