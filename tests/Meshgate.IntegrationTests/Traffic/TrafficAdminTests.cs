using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Traffic;

public sealed class TrafficAdminTests
{
    [Fact]
    public async Task ExplainAndRoutes_SplitMirrorFaults_AreShown()
    {
        await using var gateway = await TestGateway.StartAsync("""
            routes:
              - id: orders
                match: { pathPrefix: /orders }
                split: [ { cluster: orders, weight: 3 }, { cluster: orders-v2, weight: 1 } ]
                splitBy: { header: x-user }
                mirror: { cluster: shadow, percent: 10, compare: true }
                faults: { abort: { status: 503, percent: 5 }, header: x-meshgate-fault }
            clusters:
              - { id: orders, endpoints: ["http://127.0.0.1:9"] }
              - { id: orders-v2, endpoints: ["http://127.0.0.1:9"] }
              - { id: shadow, endpoints: ["http://127.0.0.1:9"] }
            """);

        var explain = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/explain?path=/orders/1")).RootElement;
        Assert.StartsWith("route 'orders' takes it and splits it between clusters 'orders', 'orders-v2'", explain.GetProperty("summary").GetString());
        var policies = explain.GetProperty("policies");
        Assert.Equal("orders 75%, orders-v2 25%, sticky by header x-user", policies.GetProperty("split").GetString());
        Assert.Equal("10% copied to cluster shadow, answers compared", policies.GetProperty("mirror").GetString());
        Assert.Equal("abort with 503 for 5% of requests with header x-meshgate-fault", policies.GetProperty("faults").GetString());

        var route = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/routes")).RootElement[0];
        Assert.Equal(JsonValueKind.Null, route.GetProperty("cluster").ValueKind);
        Assert.Equal("orders-v2", route.GetProperty("split")[1].GetProperty("cluster").GetString());
        Assert.Equal(0, route.GetProperty("mirror").GetProperty("counts").GetProperty("sent").GetInt64());
        Assert.Equal(503, route.GetProperty("faults").GetProperty("abort").GetProperty("status").GetInt32());
    }
}
