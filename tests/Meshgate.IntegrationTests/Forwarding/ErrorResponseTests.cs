using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Forwarding;

/// <summary>When the gateway cannot get an answer from upstream it answers itself, with the right status and a problem+json body.</summary>
public sealed class ErrorResponseTests
{
    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("title").GetString()));
    }


    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task UpstreamRefusesConnection_Is502ProblemJson(string forwarder)
    {
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: dead }
            clusters:
              - { id: dead, endpoints: ["http://127.0.0.1:{{DebianServerBinary.FreePort()}}"], forwarder: {{forwarder}} }
            """);

        using var response = await gateway.Client.GetAsync("/x");

        await AssertProblemAsync(response, HttpStatusCode.BadGateway);
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task UpstreamSlowerThanRequestTimeout_Is504AndUpstreamSeesCancellation(string forwarder)
    {
        var cancelled = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var slow = await TestUpstream.StartAsync(app => app.Run(async context =>
        {
            var started = Stopwatch.StartNew();
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
                cancelled.TrySetException(new InvalidOperationException("the upstream request was never aborted"));
            }
            catch (OperationCanceledException)
            {
                cancelled.TrySetResult(started.Elapsed);
            }
        }));
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: slow }
            clusters:
              - { id: slow, endpoints: ["{{slow.Endpoint}}"], timeouts: { request: 300ms }, forwarder: {{forwarder}} }
            """);

        var clock = Stopwatch.StartNew();
        using var response = await gateway.Client.GetAsync("/slow");
        var answeredAfter = clock.Elapsed;

        await AssertProblemAsync(response, HttpStatusCode.GatewayTimeout);
        Assert.InRange(answeredAfter, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        var upstreamCancelledAfter = await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.InRange(upstreamCancelledAfter, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task AllEndpointsUnhealthy_Is503ProblemJson(string forwarder)
    {
        await using var sick = await TestUpstream.StartAsync(app =>
        {
            app.MapGet("/healthz", () => Results.StatusCode(503));
            app.Map("/{**rest}", () => "served by an unhealthy endpoint");
        });
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: sick }
            clusters:
              - id: sick
                endpoints: ["{{sick.Endpoint}}"]
                forwarder: {{forwarder}}
                healthCheck: { path: /healthz, interval: 200ms, timeout: 200ms, unhealthyThreshold: 1, healthyThreshold: 1 }
            """);

        await Eventually.HoldsAsync(async () =>
        {
            using var probe = await gateway.Client.GetAsync("/x");
            return probe.StatusCode == HttpStatusCode.ServiceUnavailable;
        }, TimeSpan.FromSeconds(5), "the only endpoint fails its health check, so requests get 503");

        using var response = await gateway.Client.GetAsync("/x");
        await AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task PathMatchesButMethodDoesNot_Is405WithAllowAndProblemJson(string forwarder)
    {
        await using var upstream = await TestUpstream.NamedAsync("a");
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: read-only, match: { path: "/orders/{id}", methods: [GET, HEAD] }, cluster: a }
            clusters:
              - { id: a, endpoints: ["{{upstream.Endpoint}}"], forwarder: {{forwarder}} }
            """);

        using var response = await gateway.Client.DeleteAsync("/orders/7");

        await AssertProblemAsync(response, HttpStatusCode.MethodNotAllowed);
        var allow = string.Join(",", response.Content.Headers.Allow);
        Assert.Contains("GET", allow);
        Assert.Contains("HEAD", allow);
        Assert.False(response.Headers.Contains("x-upstream"));
        Assert.Equal("a", await gateway.UpstreamForAsync("/orders/7"));
        gateway.AssertServedBy(forwarder);
    }
}
