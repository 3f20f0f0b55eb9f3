using System.Net.Http.Headers;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Observability;

/// <summary>
/// A gateway with a token-protected admin API, a healthy and a failing route, and a known mix of traffic
/// sent through it: what the stats, CLI and dashboard tests compare their numbers with.
/// </summary>
public sealed class LiveTrafficGateway : IAsyncLifetime
{
    public const string Token = "live-stats-admin-token-0123456789";
    public const int OrdersRequests = 37;
    public const int FailingRequests = 4;
    public const int UnroutedRequests = 3;
    /// <summary>GETs of one URL on the cached route: the first is a miss, the others hits.</summary>
    public const int CatalogRequests = 5;

    private TestUpstream _upstream = null!;
    private TestUpstream _failing = null!;

    public TestGateway Gateway { get; private set; } = null!;

    public string UpstreamEndpoint => _upstream.Endpoint;

    public async Task InitializeAsync()
    {
        _upstream = await TestUpstream.NamedAsync("orders");
        _failing = await TestUpstream.StartAsync(app => app.Map("/{**rest}", () => Results.StatusCode(StatusCodes.Status503ServiceUnavailable)));
        Gateway = await TestGateway.StartAsync($$"""
            admin:
              address: 127.0.0.1:0
              token: {{Token}}
            routes:
              - id: orders
                match: { pathPrefix: /orders }
                cluster: orders
              - id: payments
                match: { pathPrefix: /payments }
                cluster: payments
              - id: catalog
                match: { pathPrefix: /catalog }
                cluster: orders
                cache: short
            caches:
              short: { defaultTtl: 60s }
            clusters:
              - id: orders
                endpoints: ["{{_upstream.Endpoint}}"]
                healthCheck: { path: /healthz, interval: 1s }
              - id: payments
                endpoints: ["{{_failing.Endpoint}}"]
            """);
        Gateway.Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        for (var i = 0; i < OrdersRequests; i++) (await Gateway.Client.GetAsync($"/orders/{i}")).EnsureSuccessStatusCode();
        for (var i = 0; i < FailingRequests; i++) Assert.Equal(503, (int)(await Gateway.Client.GetAsync("/payments/x")).StatusCode);
        for (var i = 0; i < UnroutedRequests; i++) Assert.Equal(404, (int)(await Gateway.Client.GetAsync("/nowhere")).StatusCode);
        for (var i = 0; i < CatalogRequests; i++) (await Gateway.Client.GetAsync("/catalog/1")).EnsureSuccessStatusCode();

        // The hosting layer records a request's duration as the request ends, just after the client has the answer.
        await Eventually.HoldsAsync(async () =>
        {
            var stats = await Gateway.Admin.GetStringAsync("/admin/stats");
            using var document = System.Text.Json.JsonDocument.Parse(stats);
            var root = document.RootElement;
            long Requests(System.Text.Json.JsonElement e) => e.GetProperty("lastMinute").GetProperty("requests").GetInt64();
            return root.GetProperty("routes").EnumerateArray().Sum(Requests) + Requests(root.GetProperty("noRoute")) == OrdersRequests + FailingRequests + UnroutedRequests + CatalogRequests;
        }, TimeSpan.FromSeconds(10), "every request sent is counted in /admin/stats");
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await _failing.DisposeAsync();
        await _upstream.DisposeAsync();
    }
}
