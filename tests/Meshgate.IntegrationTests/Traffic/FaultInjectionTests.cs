using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Traffic;

public sealed class FaultInjectionTests : IAsyncLifetime
{
    private RecordingUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await RecordingUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private string Config(string faults) => $$"""
        routes:
          - id: chaos
            match: { pathPrefix: /chaos }
            cluster: backend
            faults: {{faults}}
          - id: calm
            match: { pathPrefix: /calm }
            cluster: backend
        clusters:
          - id: backend
            endpoints: ["{{_upstream.Endpoint}}"]
        """;

    [Fact]
    public async Task Abort_AllRequests_AnswersProblemWithStatusAndNeverReachesUpstream()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ abort: { status: 503 } }"));

        using var response = await gateway.Client.PostAsync("/chaos/orders", new StringContent("payload"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("abort", response.Headers.GetValues("Meshgate-Fault").Single());
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("https://meshgate.dev/errors/fault-injected", problem.RootElement.GetProperty("type").GetString());
        Assert.Equal(0, _upstream.Requests);
        Assert.Equal(0, _upstream.Connections);

        using var calm = await gateway.Client.GetAsync("/calm");
        Assert.Equal(HttpStatusCode.OK, calm.StatusCode);
        Assert.False(calm.Headers.Contains("Meshgate-Fault"));
        Assert.Equal(1, _upstream.Requests);
    }

    [Fact]
    public async Task Abort_Percent_ShareOfAbortedWithinStatisticalBounds()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ abort: { status: 500, percent: 30 } }"));

        var answers = await TrafficLoad.SendAsync(gateway, "/chaos", 2000);

        Assert.Equal(2000, answers.GetValueOrDefault("recording") + answers.GetValueOrDefault("status 500"));
        TrafficLoad.AssertShare(answers.GetValueOrDefault("status 500"), 2000, 0.30, "aborted share");
        Assert.Equal(answers.GetValueOrDefault("recording"), _upstream.Requests); // aborted requests never reached it
    }

    [Fact]
    public async Task HeaderTriggered_OnlyRequestsWithHeaderGetFaults()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ abort: { status: 418 }, header: x-meshgate-fault }"));

        var without = await TrafficLoad.SendAsync(gateway, "/chaos", 200);
        var with = await TrafficLoad.SendAsync(gateway, "/chaos", 200, setup: (r, _) => r.Headers.Add("x-meshgate-fault", "1"));

        Assert.Equal(200, without.GetValueOrDefault("recording"));
        Assert.Equal(200, with.GetValueOrDefault("status 418"));
        Assert.Equal(200, _upstream.Requests);
    }

    [Fact]
    public async Task Delay_AllRequests_HeldAtLeastTheDurationThenForwarded()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ delay: { duration: 400ms } }"));
        await gateway.Client.GetAsync("/calm"); // warm the connection pools

        for (var i = 0; i < 3; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            using var response = await gateway.Client.GetAsync("/chaos");
            stopwatch.Stop();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("delay", response.Headers.GetValues("Meshgate-Fault").Single());
            Assert.InRange(stopwatch.Elapsed, TimeSpan.FromMilliseconds(390), TimeSpan.FromSeconds(5));
        }
        Assert.Equal(4, _upstream.Requests);
    }

    [Fact]
    public async Task Delay_Percent_ShareOfDelayedWithinStatisticalBounds()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ delay: { duration: 1ms, percent: 20 } }"));
        var delayed = 0;
        for (var i = 0; i < 500; i++)
        {
            using var response = await gateway.Client.GetAsync("/chaos");
            if (response.Headers.Contains("Meshgate-Fault")) delayed++;
        }
        TrafficLoad.AssertShare(delayed, 500, 0.20, "delayed share");
    }

    [Fact]
    public async Task DelayThenAbort_Both_AbortComesAfterTheDelay()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ delay: { duration: 300ms }, abort: { status: 504 } }"));

        var stopwatch = Stopwatch.StartNew();
        using var response = await gateway.Client.GetAsync("/chaos");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(290), $"took {stopwatch.Elapsed}");
        Assert.Equal("delay, abort", response.Headers.GetValues("Meshgate-Fault").Single());
        Assert.Equal(0, _upstream.Requests);
    }
}
