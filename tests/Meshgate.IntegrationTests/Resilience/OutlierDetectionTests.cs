using System.Text.Json;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Resilience;

/// <summary>Outlier detection ejects endpoints that fail real requests, brings them back, and never empties the cluster.</summary>
public sealed class OutlierDetectionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static string Config(string outlierDetection, params string[] endpoints) => $$"""
        routes:
          - { id: all, match: { path: "/{**rest}" }, cluster: pool }
        clusters:
          - id: pool
            endpoints: [{{string.Join(", ", endpoints.Select(e => $"\"{e}\""))}}]
            outlierDetection: {{outlierDetection}}
        """;

    private static async Task<bool> AllGoToAsync(TestGateway gateway, string name, int count)
    {
        for (var i = 0; i < count; i++)
        {
            if (await gateway.UpstreamForAsync("/x") != name) return false;
        }
        return true;
    }

    /// <summary>The admin API's outlier view of the endpoint at <paramref name="address"/>, or null when it was never ejected.</summary>
    private static async Task<JsonElement?> EjectionAsync(TestGateway gateway, string address)
    {
        using var clusters = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/clusters"));
        foreach (var endpoint in clusters.RootElement[0].GetProperty("outlierDetection").GetProperty("endpoints").EnumerateArray())
        {
            if (endpoint.GetProperty("address").GetString() == address) return endpoint.Clone();
        }
        return null;
    }

    private static async Task<bool> IsEjectedAsync(TestGateway gateway, string address) =>
        await EjectionAsync(gateway, address) is { } ejection && ejection.GetProperty("ejectedUntil").ValueKind != JsonValueKind.Null;

    /// <summary>How long the current ejection is set for, from when it had happened at the latest (a client-side time after the ejecting answer).</summary>
    private static async Task<TimeSpan> EjectionPeriodAsync(TestGateway gateway, string address, DateTimeOffset ejectedBy) =>
        (await EjectionAsync(gateway, address))!.Value.GetProperty("ejectedUntil").GetDateTimeOffset() - ejectedBy;

    /// <summary>Waits for the ejected endpoint to come back, watched through the admin API so no request disturbs it.</summary>
    private static Task BackInServiceAsync(TestGateway gateway) =>
        Eventually.HoldsAsync(async () => !(await gateway.Admin.GetStringAsync("/admin/clusters")).Contains("ejected (outlier detection)", StringComparison.Ordinal),
            Timeout, "the ejected endpoint comes back");

    [Fact]
    public async Task Burst503_EjectsEndpoint_ReturnsAfterEjectionTime()
    {
        await using var a = await SwitchableUpstream.StartAsync("a");
        await using var b = await SwitchableUpstream.StartAsync("b");
        a.Status = 503;
        await using var gateway = await TestGateway.StartAsync(Config("{ consecutive5xx: 3, baseEjectionTime: 1s, interval: 200ms }", a.Endpoint, b.Endpoint));

        // Round-robin alternates, so a gets requests 1, 3, 5: its third 503 ejects it.
        for (var i = 0; i < 6; i++) await gateway.UpstreamForAsync("/x");
        Assert.Equal(3, a.Served);
        var ejectedAt = DateTime.UtcNow;
        Assert.True(await AllGoToAsync(gateway, "b", 10), "an ejected endpoint still got traffic");
        Assert.Equal(3, a.Served);
        var ejection = (await EjectionAsync(gateway, a.Endpoint))!.Value;
        Assert.Equal("consecutive-5xx", ejection.GetProperty("reason").GetString());
        Assert.Equal(1, ejection.GetProperty("ejections").GetInt32());
        Assert.Contains("ejected (outlier detection)", await gateway.Admin.GetStringAsync("/admin/clusters"));

        a.Status = 200;
        await Eventually.HoldsAsync(async () => await gateway.UpstreamForAsync("/x") == "a", Timeout, "the endpoint gets traffic again after the ejection time");
        Assert.True(DateTime.UtcNow - ejectedAt >= TimeSpan.FromSeconds(0.8), "the endpoint came back well before baseEjectionTime (1s)");
        await Eventually.HoldsAsync(async () => !await IsEjectedAsync(gateway, a.Endpoint), Timeout, "the admin API shows it in service");
    }

    [Fact]
    public async Task EjectedAgain_StaysOutLonger()
    {
        await using var a = await SwitchableUpstream.StartAsync("a");
        await using var b = await SwitchableUpstream.StartAsync("b");
        a.Status = 503;
        // A long interval: the multiplier does not decay during the test.
        await using var gateway = await TestGateway.StartAsync(Config("{ consecutive5xx: 2, baseEjectionTime: 1s, interval: 1m }", a.Endpoint, b.Endpoint));

        for (var i = 0; i < 4; i++) await gateway.UpstreamForAsync("/x");
        var first = await EjectionPeriodAsync(gateway, a.Endpoint, ejectedBy: DateTimeOffset.UtcNow);
        Assert.Equal(2, a.Served);
        await BackInServiceAsync(gateway);

        await Eventually.HoldsAsync(async () => { await gateway.UpstreamForAsync("/x"); return a.Served == 4; }, Timeout, "a fails twice more");
        var second = await EjectionPeriodAsync(gateway, a.Endpoint, ejectedBy: DateTimeOffset.UtcNow);
        Assert.Equal(2, (await EjectionAsync(gateway, a.Endpoint))!.Value.GetProperty("ejections").GetInt32());

        // 1s then 2s, read from the gateway's own ejectedUntil (less the moments between the ejection and the client's
        // clock), not from polling for the return, which a loaded machine stretches unevenly.
        Assert.True(first > TimeSpan.FromSeconds(0.5) && first <= TimeSpan.FromSeconds(1.05), $"the first ejection was set for {first}, not baseEjectionTime (1s)");
        Assert.True(second > TimeSpan.FromSeconds(1.5) && second <= TimeSpan.FromSeconds(2.05), $"the second ejection was set for {second}, not twice baseEjectionTime (2s)");
    }

    [Fact]
    public async Task MaxEjectionPercent_AllFailing_KeepsTheRestServing()
    {
        await using var a = await SwitchableUpstream.StartAsync("a");
        await using var b = await SwitchableUpstream.StartAsync("b");
        a.Status = b.Status = 503;
        await using var gateway = await TestGateway.StartAsync(Config("{ consecutive5xx: 2, baseEjectionTime: 1m, maxEjectionPercent: 50 }", a.Endpoint, b.Endpoint));

        var answeredBy = new List<string>();
        for (var i = 0; i < 20; i++) answeredBy.Add(await gateway.UpstreamForAsync("/x"));

        // One endpoint is ejected; the other keeps getting every request (its 503s reach the client) instead of the
        // cluster having no endpoint left.
        var ejected = (await IsEjectedAsync(gateway, a.Endpoint) ? 1 : 0) + (await IsEjectedAsync(gateway, b.Endpoint) ? 1 : 0);
        Assert.Equal(1, ejected);
        var lastAnswers = Assert.Single(answeredBy.TakeLast(10).Distinct());
        Assert.DoesNotContain("status", lastAnswers, StringComparison.Ordinal);
        using var clusters = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/clusters"));
        Assert.Equal(1, clusters.RootElement[0].GetProperty("availableEndpoints").GetInt32());
    }

    [Fact]
    public async Task SuccessRate_OneEndpointFailingHalf_Ejected()
    {
        var served = 0;
        await using var flaky = await TestUpstream.StartAsync(app => app.Map("/{**rest}", (HttpContext context) =>
        {
            context.Response.Headers["x-upstream"] = "flaky";
            return Interlocked.Increment(ref served) % 2 == 0 ? Results.StatusCode(500) : Results.Text("flaky");
        }));
        await using var b = await SwitchableUpstream.StartAsync("b");
        await using var c = await SwitchableUpstream.StartAsync("c");
        // Three endpoints: one failing endpoint is at most sqrt(2) deviations below the mean, so the factor is 1.
        await using var gateway = await TestGateway.StartAsync(Config(
            "{ consecutive5xx: 1000, interval: 300ms, baseEjectionTime: 1m, maxEjectionPercent: 34, successRate: { minimumHosts: 3, requestVolume: 10, stdevFactor: 1.0 } }",
            flaky.Endpoint, b.Endpoint, c.Endpoint));

        await Eventually.HoldsAsync(async () =>
        {
            for (var i = 0; i < 30; i++) await gateway.UpstreamForAsync("/x");
            return await IsEjectedAsync(gateway, flaky.Endpoint);
        }, Timeout, "the endpoint failing half its requests is ejected by success rate");

        Assert.Equal("success-rate", (await EjectionAsync(gateway, flaky.Endpoint))!.Value.GetProperty("reason").GetString());
        Assert.False(await IsEjectedAsync(gateway, b.Endpoint));
        Assert.False(await IsEjectedAsync(gateway, c.Endpoint));
        var after = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => gateway.UpstreamForAsync("/x")));
        Assert.DoesNotContain("flaky", after);
    }

    [Fact]
    public async Task EjectedAndFailingActiveChecks_StaysOutUntilBothHealthy()
    {
        await using var a = await SwitchableUpstream.StartAsync("a");
        await using var b = await SwitchableUpstream.StartAsync("b");
        a.Status = 503;
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: pool }
            clusters:
              - id: pool
                endpoints: ["{{a.Endpoint}}", "{{b.Endpoint}}"]
                healthCheck: { path: /healthz, interval: 200ms, timeout: 2s, unhealthyThreshold: 1, healthyThreshold: 1 }
                outlierDetection: { consecutive5xx: 2, baseEjectionTime: 1s, interval: 200ms }
            """);

        // Its probes pass while its requests fail: outlier detection ejects it.
        await Eventually.HoldsAsync(async () => { await gateway.UpstreamForAsync("/x"); return await IsEjectedAsync(gateway, a.Endpoint); }, Timeout, "a is ejected");
        a.Healthy = false;
        await Eventually.HoldsAsync(async () => (await gateway.Admin.GetStringAsync("/admin/clusters")).Contains("unhealthy (active check)", StringComparison.Ordinal),
            Timeout, "a fails its active checks");

        // The ejection ends after 1s, but the active checks still say unhealthy: a stays out.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.False(await IsEjectedAsync(gateway, a.Endpoint), "the ejection should be over");
        var served = a.Served;
        Assert.True(await AllGoToAsync(gateway, "b", 10), "an endpoint failing active checks got traffic after its ejection ended");
        Assert.Equal(served, a.Served);

        a.Status = 200;
        a.Healthy = true;
        await Eventually.HoldsAsync(async () => await gateway.UpstreamForAsync("/x") == "a", Timeout, "a returns once both agree it is healthy");
    }

    [Fact]
    public async Task ConsecutiveGatewayErrors_ConnectFailures_EjectDeadEndpoint()
    {
        await using var b = await SwitchableUpstream.StartAsync("b");
        // A port nothing listens on: every attempt is a connect failure (a gateway error, 502 to the client).
        var dead = await TestUpstream.StartAsync(_ => { });
        var deadEndpoint = dead.Endpoint;
        await dead.DisposeAsync();
        await using var gateway = await TestGateway.StartAsync(Config("{ consecutive5xx: 100, consecutiveGatewayErrors: 2, baseEjectionTime: 1m }", deadEndpoint, b.Endpoint));

        var answers = new List<string>();
        for (var i = 0; i < 4; i++) answers.Add(await gateway.UpstreamForAsync("/x"));

        Assert.Equal(2, answers.Count(a => a == "status 502"));
        Assert.True(await IsEjectedAsync(gateway, deadEndpoint));
        Assert.Equal("consecutive-gateway-errors", (await EjectionAsync(gateway, deadEndpoint))!.Value.GetProperty("reason").GetString());
        Assert.True(await AllGoToAsync(gateway, "b", 6), "the dead endpoint still got traffic");
    }
}
