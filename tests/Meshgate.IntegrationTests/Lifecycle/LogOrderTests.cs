using System.Net;
using Meshgate.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Meshgate.IntegrationTests.Lifecycle;

/// <summary>
/// A gateway's proxy and its admin API are two hosts in one process. Their log lines must come out in the order they
/// were logged: with a console provider each, two writer threads raced, and the admin API's "Now listening on" could
/// come before the proxy's listeners' although it starts after them (a script, or this test kit, that takes the first
/// address got the admin port; the Native AOT build did so about every other start).
/// </summary>
[Trait("Runs", "meshgate")]
public sealed class LogOrderTests
{
    private const string Routes = """
        routes:
          - { id: all, match: { pathPrefix: / }, cluster: app }
        clusters:
          - { id: app, endpoints: ["http://127.0.0.1:1"] }
        """;

    [Fact]
    public async Task GatewayAndAdmin_WriteThroughOneConsoleProvider()
    {
        await using var gateway = await TestGateway.StartAsync(Routes);

        var proxy = Assert.Single(gateway.Host.Gateway.Services.GetServices<ILoggerProvider>());
        var admin = Assert.Single(gateway.Host.Admin.Services.GetServices<ILoggerProvider>());
        Assert.Same(proxy, admin);
    }

    [Fact]
    public async Task Process_ReportsItsListenersInConfigOrder_TheAdminApiLast()
    {
        var dir = TempDirectory.Create();
        var config = Path.Combine(dir, "meshgate.yaml");
        await File.WriteAllTextAsync(config, $"""
            listeners:
              - {"{"} name: one, address: 127.0.0.1:0 {"}"}
              - {"{"} name: two, address: 127.0.0.1:0 {"}"}
            admin: {"{"} address: 127.0.0.1:0 {"}"}
            logging: {"{"} level: info {"}"}
            {Routes}
            """);
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        // Four processes starting at once, as in the shared rate-limit tests, where the race showed most.
        var processes = Enumerable.Range(0, 4).Select(_ => MeshgateProcess.Start("gateway", "-c", config)).ToList();
        try
        {
            foreach (var process in processes)
            {
                var urls = await process.WaitForListenersAsync(3, TimeSpan.FromSeconds(60));
                var statuses = new List<HttpStatusCode>();
                foreach (var url in urls)
                {
                    using var response = await client.GetAsync(new Uri(url, "/admin/health/live"));
                    statuses.Add(response.StatusCode);
                }
                // The proxy's listeners forward it to the route's dead endpoint (502); only the admin API answers it.
                await process.CheckAsync(() =>
                {
                    Assert.Equal([HttpStatusCode.BadGateway, HttpStatusCode.BadGateway, HttpStatusCode.OK], statuses);
                    return Task.CompletedTask;
                });
            }
        }
        finally
        {
            foreach (var process in processes) await process.DisposeAsync();
        }
    }
}
