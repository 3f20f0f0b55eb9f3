using System.Text.Json;
using Meshgate.IntegrationTests.AccessLog;
using Meshgate.Proxy.FrontEnd;
using Meshgate.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.FrontEnd;

/// <summary>
/// The access log under the direct front end (docs/front-end.md): the requests it serves get the line the pipeline's
/// access-log step writes, field for field but the timings (run with <c>frontEnd: auto</c> and <c>frontEnd: kestrel</c>
/// and compared).
/// </summary>
public sealed class FrontEndAccessLogTests
{
    private const string Key = "alice-key";

    [Fact]
    public async Task ServedRequests_LogTheLinesThePipelineLogs()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        var lines = new Dictionary<string, List<string>>();
        foreach (var frontEnd in new[] { "auto", "kestrel" })
        {
            await using var gateway = await TestGateway.StartAsync($$"""
                listeners:
                  - name: web
                    address: 127.0.0.1:0
                    frontEnd: {{frontEnd}}
                accessLog: { output: access.log, query: true }
                authentication:
                  keys:
                    apiKeys: { header: x-api-key, consumers: { alice: { keys: [{{AccessLogFiles.AliceKeyHash}}] } } }
                rateLimits:
                  once: { algorithm: fixed-window, limit: 1, window: 1h, key: consumer }
                routes:
                  - { id: keyed, match: { pathPrefix: /keyed }, cluster: echo, auth: [keys], rateLimit: once }
                  - { id: plain, match: { path: "/{**rest}" }, cluster: echo }
                clusters:
                  - { id: echo, endpoints: ["{{upstream.Endpoint}}"] }
                """);
            async Task SendAsync(HttpMethod method, string path, string? key = null)
            {
                using var request = new HttpRequestMessage(method, path);
                if (key is not null) request.Headers.Add("x-api-key", key);
                request.Headers.Add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
                using var response = await gateway.Client.SendAsync(request);
                await response.Content.ReadAsByteArrayAsync();
            }
            await SendAsync(HttpMethod.Get, "/orders/7?page=2&sort=asc");
            await SendAsync(HttpMethod.Head, "/orders/8");
            await SendAsync(HttpMethod.Get, "/keyed/a", Key);
            await SendAsync(HttpMethod.Get, "/keyed/b");
            await SendAsync(HttpMethod.Get, "/keyed/c", Key);

            var logged = await AccessLogFiles.WaitForLinesAsync(Path.Combine(gateway.Directory, "access.log"), 5);
            // Everything but the clock's fields, and bytesOut of the echo (which echoes the port-dependent Host).
            lines[frontEnd] = logged.Select(line => string.Join(" ", line.EnumerateObject()
                .Where(p => p.Name is not ("time" or "durationMs" or "upstreamMs") && !(p.Name == "bytesOut" && line.GetProperty("status").GetInt32() == 200))
                .Select(p => $"{p.Name}={p.Value}"))).ToList();
            Assert.Equal(frontEnd == "auto" ? 5 : 0, gateway.Host.Gateway.Services.GetRequiredService<DirectFrontEnd>().Served);
        }

        Assert.Equal(lines["kestrel"], lines["auto"]);
        var auto = lines["auto"];
        Assert.Contains("path=/orders/7?page=2&sort=asc status=200", auto[0]);
        Assert.Contains("traceId=4bf92f3577b34da6a3ce929d0e0e4736", auto[0]);
        Assert.Contains("method=HEAD path=/orders/8 status=200", auto[1]);
        Assert.Contains("status=200", auto[2]);
        Assert.Contains("consumer=alice", auto[2]);
        Assert.Contains("rateLimit=allowed", auto[2]);
        Assert.Contains("attempts=1", auto[2]);
        Assert.Contains("status=401", auto[3]);
        Assert.Contains("attempts=0", auto[3]);
        Assert.Contains("status=429", auto[4]);
        Assert.Contains("rateLimit=limited", auto[4]);
        Assert.Contains("attempts=0", auto[4]);
    }
}
