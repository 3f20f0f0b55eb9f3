using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.AccessLog;

/// <summary>What the resilience and fault-injection steps record reaches the access log line of the request.</summary>
public sealed class AccessLogAttemptsTests
{
    [Fact]
    public async Task RetriedRequest_LogsEveryAttempt_AndAnInjectedAbortLogsNone()
    {
        await using var live = await TestUpstream.StartAsync(app => app.Run(context => context.Response.WriteAsync("live")));
        var deadUpstream = await TestUpstream.StartAsync(app => app.Run(_ => Task.CompletedTask));
        var dead = deadUpstream.Endpoint;
        await deadUpstream.DisposeAsync();   // a closed port: every connect is refused

        await using var gateway = await TestGateway.StartAsync($$"""
            accessLog: { output: access.log }
            resilience:
              retrying: { retries: { attempts: 2, on: [connect-failure], backoff: { base: 1ms, max: 2ms } } }
            routes:
              - { id: app, match: { path: "/app/{**rest}" }, cluster: pair, resilience: retrying }
              - { id: broken, match: { path: "/broken" }, cluster: pair, faults: { abort: { status: 503 } } }
            clusters:
              - { id: pair, loadBalancing: round-robin, endpoints: ["{{dead}}", "{{live.Endpoint}}"] }
            """);
        var log = Path.Combine(gateway.Directory, "access.log");

        for (var i = 0; i < 4; i++)
        {
            using var response = await gateway.Client.GetAsync("/app/x");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using (var aborted = await gateway.Client.GetAsync("/broken"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, aborted.StatusCode);
        }

        var lines = await AccessLogFiles.WaitForLinesAsync(log, 5);
        var proxied = lines.Where(l => l.GetProperty("route").GetString() == "app").ToList();
        Assert.Equal(4, proxied.Count);
        Assert.All(proxied, l => Assert.Equal(live.Endpoint, l.GetProperty("endpoint").GetString()));
        // Round-robin sends every other first try to the dead endpoint: those succeed on their second attempt.
        Assert.Equal([1, 1, 2, 2], proxied.Select(l => l.GetProperty("attempts").GetInt32()).Order());

        var fault = Assert.Single(lines, l => l.GetProperty("route").GetString() == "broken");
        Assert.Equal("abort", fault.GetProperty("fault").GetString());
        Assert.Equal(503, fault.GetProperty("status").GetInt32());
        Assert.Equal(0, fault.GetProperty("attempts").GetInt32());
    }
}
