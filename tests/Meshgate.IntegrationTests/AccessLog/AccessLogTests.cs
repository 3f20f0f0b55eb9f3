using System.Net;
using System.Text.Json;
using Meshgate.Configuration.Compilation;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.AccessLog;

/// <summary>The access log of a real gateway in front of a real upstream: one JSON line per request, what it says, what it never says.</summary>
public sealed class AccessLogTests : IAsyncLifetime
{
    private const int ResponseBytes = 2345;

    private TestUpstream _upstream = null!;
    private TestGateway _gateway = null!;
    private string _log = null!;

    public async Task InitializeAsync()
    {
        _upstream = await TestUpstream.StartAsync(app => app.Run(async context =>
        {
            // Reads the whole request body, answers ResponseBytes bytes.
            await context.Request.Body.CopyToAsync(Stream.Null);
            await context.Response.Body.WriteAsync(new byte[ResponseBytes]);
        }));
        _gateway = await TestGateway.StartAsync(Config(_upstream.Endpoint, "output: access.log"));
        _log = Path.Combine(_gateway.Directory, "access.log");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    internal static string Config(string upstream, string accessLog) => $$"""
        accessLog:
          {{accessLog.Replace("\n", "\n  ", StringComparison.Ordinal)}}
        authentication:
          keys: { apiKeys: { header: x-api-key, consumers: { alice: { keys: ["{{AccessLogFiles.AliceKeyHash}}"] } } } }
          query-keys: { apiKeys: { queryParameter: api_key, consumers: { alice: { keys: ["{{AccessLogFiles.AliceKeyHash}}"] } } } }
        routes:
          - id: app
            match: { path: "/app/{**rest}" }
            cluster: backend
          - id: secure
            match: { path: "/secure/{**rest}" }
            cluster: backend
            auth: [keys]
          - id: by-query
            match: { path: "/by-query/{**rest}" }
            cluster: backend
            auth: [query-keys]
        clusters:
          - { id: backend, endpoints: ["{{upstream}}"] }
        """;

    [Fact]
    public async Task ProxiedRequest_OneLineWithEveryField()
    {
        var before = DateTimeOffset.UtcNow;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/app/items?secret-query=1") { Content = new ByteArrayContent(new byte[1000]) };
        request.Headers.Add("Authorization", "Bearer secret-token-value");
        request.Headers.Add("Cookie", "session=secret-cookie-value");
        using var response = await _gateway.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(ResponseBytes, (await response.Content.ReadAsByteArrayAsync()).Length);

        var line = Assert.Single(await AccessLogFiles.WaitForLinesAsync(_log, 1));

        Assert.Equal(AccessLogFields.Names, line.EnumerateObject().Select(p => p.Name));
        Assert.InRange(line.GetProperty("time").GetDateTimeOffset(), before.AddSeconds(-1), DateTimeOffset.UtcNow);
        Assert.Equal("app", line.GetProperty("route").GetString());
        Assert.Equal("backend", line.GetProperty("cluster").GetString());
        Assert.Equal(_upstream.Endpoint, line.GetProperty("endpoint").GetString());
        Assert.Equal("POST", line.GetProperty("method").GetString());
        Assert.Equal("/app/items", line.GetProperty("path").GetString());
        Assert.Equal(200, line.GetProperty("status").GetInt32());
        Assert.Equal(1000, line.GetProperty("bytesIn").GetInt64());
        Assert.Equal(ResponseBytes, line.GetProperty("bytesOut").GetInt64());
        var total = line.GetProperty("durationMs").GetDouble();
        var upstream = line.GetProperty("upstreamMs").GetDouble();
        Assert.True(upstream > 0 && upstream <= total, $"upstream {upstream}ms, total {total}ms");
        Assert.Equal("127.0.0.1", line.GetProperty("clientIp").GetString());
        Assert.Equal(JsonValueKind.Null, line.GetProperty("consumer").ValueKind);
        Assert.False(string.IsNullOrEmpty(line.GetProperty("traceId").GetString()));
        Assert.Equal(JsonValueKind.Null, line.GetProperty("cache").ValueKind);
        Assert.Equal(JsonValueKind.Null, line.GetProperty("rateLimit").ValueKind);
        Assert.Equal(JsonValueKind.Null, line.GetProperty("fault").ValueKind);
        Assert.Equal(1, line.GetProperty("attempts").GetInt32());

        var text = await File.ReadAllTextAsync(_log);
        Assert.DoesNotContain("secret", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task GatewayMadeAnswers_AreLogged_WithTheBodyTheGatewayWrote()
    {
        using var noRoute = await _gateway.Client.GetAsync("/nowhere");
        var noRouteBytes = (await noRoute.Content.ReadAsByteArrayAsync()).Length;
        using var unauthorized = await _gateway.Client.GetAsync("/secure/orders");
        var unauthorizedBytes = (await unauthorized.Content.ReadAsByteArrayAsync()).Length;
        Assert.Equal(HttpStatusCode.NotFound, noRoute.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);

        var lines = await AccessLogFiles.WaitForLinesAsync(_log, 2);

        Assert.Equal(2, lines.Count);
        Assert.Equal(404, lines[0].GetProperty("status").GetInt32());
        Assert.Equal("/nowhere", lines[0].GetProperty("path").GetString());
        Assert.Equal(JsonValueKind.Null, lines[0].GetProperty("route").ValueKind);
        Assert.Equal(JsonValueKind.Null, lines[0].GetProperty("cluster").ValueKind);
        Assert.Equal(noRouteBytes, lines[0].GetProperty("bytesOut").GetInt64());
        Assert.True(noRouteBytes > 0);
        Assert.Equal(0, lines[0].GetProperty("attempts").GetInt32());
        Assert.Equal(0, lines[0].GetProperty("upstreamMs").GetDouble());

        Assert.Equal(401, lines[1].GetProperty("status").GetInt32());
        Assert.Equal("secure", lines[1].GetProperty("route").GetString());
        Assert.Equal("backend", lines[1].GetProperty("cluster").GetString());
        Assert.Equal(JsonValueKind.Null, lines[1].GetProperty("endpoint").ValueKind);
        Assert.Equal(unauthorizedBytes, lines[1].GetProperty("bytesOut").GetInt64());
        Assert.Equal(0, lines[1].GetProperty("attempts").GetInt32());
    }

    [Fact]
    public async Task AuthenticatedRequest_LogsTheConsumer_NeverTheKey()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/secure/orders");
        request.Headers.Add("x-api-key", "alice-key");
        using var response = await _gateway.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var line = Assert.Single(await AccessLogFiles.WaitForLinesAsync(_log, 1));

        Assert.Equal("alice", line.GetProperty("consumer").GetString());
        Assert.Equal(0, line.GetProperty("bytesIn").GetInt64());
        Assert.DoesNotContain("alice-key", await File.ReadAllTextAsync(_log), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Shutdown_WritesEveryQueuedLine()
    {
        for (var i = 0; i < 50; i++)
        {
            using var response = await _gateway.Client.GetAsync($"/app/{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await _gateway.Host.StopAsync();

        var lines = AccessLogFiles.Lines(_log);
        Assert.Equal(50, lines.Length);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"/app/{i}"), lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("path").GetString()));
    }

    [Fact]
    public async Task Shutdown_LogsTheRequestsItDrains()
    {
        var received = new TaskCompletionSource();
        await using var slow = await TestUpstream.StartAsync(app => app.Run(async context =>
        {
            received.TrySetResult();
            await Task.Delay(500);
            await context.Response.WriteAsync("late");
        }));
        var directory = TempDirectory.Create();
        var gateway = await TestGateway.StartAsync(Config(slow.Endpoint, "output: access.log"), directory);
        try
        {
            var inFlight = gateway.Client.GetAsync("/app/slow");
            await received.Task.WaitAsync(TimeSpan.FromSeconds(10));

            // The server drains first; the writer stops after it, so the drained request's line is written.
            await gateway.Host.StopAsync();

            using var response = await inFlight;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var line = JsonDocument.Parse(Assert.Single(AccessLogFiles.Lines(Path.Combine(directory, "access.log")))).RootElement;
            Assert.Equal("/app/slow", line.GetProperty("path").GetString());
            Assert.True(line.GetProperty("durationMs").GetDouble() >= 400);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task AdminApi_ShowsTheOutputAndCounters()
    {
        using var response = await _gateway.Client.GetAsync("/app/x");
        await AccessLogFiles.WaitForLinesAsync(_log, 1);

        await Eventually.HoldsAsync(async () => (await AccessLogFiles.StatusAsync(_gateway)).GetProperty("written").GetInt64() == 1, TimeSpan.FromSeconds(5), "written = 1");
        var status = await AccessLogFiles.StatusAsync(_gateway);
        Assert.True(status.GetProperty("enabled").GetBoolean());
        Assert.Equal(_log, status.GetProperty("output").GetString());
        Assert.Equal(10_000, status.GetProperty("queueCapacity").GetInt32());
        Assert.Equal(0, status.GetProperty("dropped").GetInt64());
    }
}
