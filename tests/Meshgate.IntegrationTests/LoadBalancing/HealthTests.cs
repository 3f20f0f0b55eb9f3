using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.LoadBalancing;

/// <summary>Active health checks take a failing endpoint out of rotation and bring it back (passive health: Resilience/OutlierDetectionTests).</summary>
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
                healthCheck: { path: /healthz, interval: 200ms, timeout: 2s, unhealthyThreshold: 2, healthyThreshold: 2 }
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
}
