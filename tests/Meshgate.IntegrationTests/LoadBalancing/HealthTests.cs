using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.LoadBalancing;

/// <summary>Active and passive health take a failing endpoint out of rotation and bring it back.</summary>
public sealed class HealthTests
{
    private static async Task<bool> AllGoToAsync(TestGateway gateway, string name, int count = 6)
    {
        for (var i = 0; i < count; i++)
        {
            if (await gateway.UpstreamForAsync("/x") != name) return false;
        }
        return true;
    }

    [Fact]
    public async Task ActiveHealth_FailingEndpoint_TakenOutAndBroughtBack()
    {
        await using var a = await SwitchableUpstream.StartAsync("a");
        await using var b = await SwitchableUpstream.StartAsync("b");
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: pool }
            clusters:
              - id: pool
                endpoints: ["{{a.Endpoint}}", "{{b.Endpoint}}"]
                healthCheck: { path: /healthz, interval: 200ms, timeout: 200ms, unhealthyThreshold: 2, healthyThreshold: 2 }
            """);
        var both = (await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => gateway.UpstreamForAsync("/x")))).Distinct().Order().ToList();
        Assert.Equal(["a", "b"], both);

        a.Healthy = false;
        await Eventually.HoldsAsync(() => AllGoToAsync(gateway, "b"), TimeSpan.FromSeconds(5), "traffic leaves the endpoint failing its checks");
        var clusters = await gateway.Admin.GetStringAsync("/admin/clusters");
        Assert.Contains("unhealthy (active check)", clusters);
        Assert.Contains("\"availableEndpoints\":1", clusters);

        a.Healthy = true;
        await Eventually.HoldsAsync(async () => (await gateway.UpstreamForAsync("/x")) == "a", TimeSpan.FromSeconds(5), "the endpoint returns once its checks pass");
        Assert.DoesNotContain("unhealthy", await gateway.Admin.GetStringAsync("/admin/clusters"));
    }

    [Fact]
    public async Task PassiveHealth_ConsecutiveFailures_EjectedThenBackAfterEjectFor()
    {
        await using var a = await SwitchableUpstream.StartAsync("a");
        await using var b = await SwitchableUpstream.StartAsync("b");
        a.Status = 500;
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: pool }
            clusters:
              - id: pool
                endpoints: ["{{a.Endpoint}}", "{{b.Endpoint}}"]
                passiveHealth: { consecutiveFailures: 3, ejectFor: 2s }
            """);

        // Round-robin alternates, so a gets requests 1, 3, 5: its third 500 ejects it.
        for (var i = 0; i < 6; i++) await gateway.UpstreamForAsync("/x");
        Assert.Equal(3, a.Served);
        var ejectedAt = DateTime.UtcNow;

        Assert.True(await AllGoToAsync(gateway, "b", 10), "an ejected endpoint still got traffic");
        Assert.Equal(3, a.Served);
        Assert.Contains("ejected (passive health)", await gateway.Admin.GetStringAsync("/admin/clusters"));

        a.Status = 200;
        await Eventually.HoldsAsync(async () => (await gateway.UpstreamForAsync("/x")) == "a", TimeSpan.FromSeconds(6), "the endpoint gets traffic again after ejectFor");
        Assert.True(DateTime.UtcNow - ejectedAt >= TimeSpan.FromSeconds(1.5), "the endpoint came back well before ejectFor (2s)");
    }
}
