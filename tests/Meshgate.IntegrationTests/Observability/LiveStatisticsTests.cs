using System.Net;
using System.Text.Json;

namespace Meshgate.IntegrationTests.Observability;

public sealed class LiveStatisticsTests(LiveTrafficGateway live) : IClassFixture<LiveTrafficGateway>
{
    private async Task<JsonElement> StatsAsync()
    {
        using var document = JsonDocument.Parse(await live.Gateway.Admin.GetStringAsync("/admin/stats"));
        return document.RootElement.Clone();
    }

    private static JsonElement Route(JsonElement stats, string id) => stats.GetProperty("routes").EnumerateArray().Single(r => r.GetProperty("route").GetString() == id);

    [Fact]
    public async Task Stats_KnownTraffic_CountsPerRouteAndNoRoute()
    {
        var stats = await StatsAsync();

        var orders = Route(stats, "orders").GetProperty("lastMinute");
        Assert.Equal(LiveTrafficGateway.OrdersRequests, orders.GetProperty("requests").GetInt64());
        Assert.Equal(0, orders.GetProperty("serverErrors").GetInt64());
        Assert.Equal(0.0, orders.GetProperty("errorRate").GetDouble());
        Assert.True(orders.GetProperty("p50Ms").GetDouble() > 0);
        Assert.True(orders.GetProperty("p99Ms").GetDouble() >= orders.GetProperty("p50Ms").GetDouble());
        Assert.True(orders.GetProperty("requestsPerSecond").GetDouble() > 0);

        var payments = Route(stats, "payments").GetProperty("lastMinute");
        Assert.Equal(LiveTrafficGateway.FailingRequests, payments.GetProperty("serverErrors").GetInt64());
        Assert.Equal(1.0, payments.GetProperty("errorRate").GetDouble());

        var noRoute = stats.GetProperty("noRoute").GetProperty("lastMinute");
        Assert.Equal(LiveTrafficGateway.UnroutedRequests, noRoute.GetProperty("clientErrors").GetInt64());
    }

    [Fact]
    public async Task Stats_Series_15MinutesOf5SecondBucketsHoldingTheTraffic()
    {
        var stats = await StatsAsync();
        Assert.Equal(5, stats.GetProperty("bucketSeconds").GetInt32());
        Assert.Equal(900, stats.GetProperty("windowSeconds").GetInt32());
        var series = Route(stats, "orders").GetProperty("series");
        Assert.Equal(180, series.GetProperty("requests").GetArrayLength());
        Assert.Equal(LiveTrafficGateway.OrdersRequests, series.GetProperty("requests").EnumerateArray().Sum(e => e.GetInt64()));
        Assert.Equal(180, series.GetProperty("p99Ms").GetArrayLength());
    }

    [Fact]
    public async Task Stats_WithoutToken_401()
    {
        using var anonymous = new HttpClient { BaseAddress = live.Gateway.Host.AdminUrl };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/admin/stats")).StatusCode);
    }

    [Fact]
    public async Task ConfigStatus_RecentAttempts_StartAndRejectedReloadNewestFirst()
    {
        var original = await File.ReadAllTextAsync(live.Gateway.ConfigPath);
        try
        {
            // Written without the watcher racing us: the reload below is the one this test asserts on.
            await File.WriteAllTextAsync(live.Gateway.ConfigPath, original.Replace("cluster: payments", "cluster: missing", StringComparison.Ordinal));
            using var response = await live.Gateway.Admin.PostAsync("/admin/reload", null);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        }
        finally
        {
            await File.WriteAllTextAsync(live.Gateway.ConfigPath, original);
        }

        using var document = JsonDocument.Parse(await live.Gateway.Admin.GetStringAsync("/admin/config/status"));
        var attempts = document.RootElement.GetProperty("recentAttempts").EnumerateArray().ToList();
        var rejected = attempts.Single(a => a.GetProperty("trigger").GetString() == "admin API");
        Assert.False(rejected.GetProperty("applied").GetBoolean());
        Assert.Contains("missing", rejected.GetProperty("errors")[0].GetString());
        Assert.Equal("start", attempts[^1].GetProperty("trigger").GetString());
        Assert.True(attempts[^1].GetProperty("applied").GetBoolean());
    }
}
