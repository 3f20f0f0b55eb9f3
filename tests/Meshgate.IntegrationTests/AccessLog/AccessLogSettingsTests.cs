using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Meshgate.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.AccessLog;

/// <summary>The accessLog settings, each through a real gateway: query, fields, sampling, rotation, reload, the queue.</summary>
public sealed class AccessLogSettingsTests : IAsyncLifetime
{
    private TestUpstream _upstream = null!;

    public async Task InitializeAsync() =>
        _upstream = await TestUpstream.StartAsync(app => app.Run(context => context.Response.WriteAsync("ok")));

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private Task<TestGateway> StartAsync(string accessLog, string? directory = null) =>
        TestGateway.StartAsync(AccessLogTests.Config(_upstream.Endpoint, accessLog), directory);

    private static string Path(TestGateway gateway, string file = "access.log") => System.IO.Path.Combine(gateway.Directory, file);

    private static async Task GetAsync(TestGateway gateway, string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await gateway.Client.GetAsync(path);
        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task Query_ExcludedByDefault()
    {
        await using var gateway = await StartAsync("output: access.log");
        await GetAsync(gateway, "/app/x?page=2");

        var line = Assert.Single(await AccessLogFiles.WaitForLinesAsync(Path(gateway), 1));

        Assert.Equal("/app/x", line.GetProperty("path").GetString());
    }

    [Fact]
    public async Task Query_IncludedWhenConfigured_CredentialParametersRedacted()
    {
        await using var gateway = await StartAsync("output: access.log\nquery: true");
        await GetAsync(gateway, "/app/x?page=2&sort=name");
        await GetAsync(gateway, "/by-query/x?page=3&api_key=alice-key");

        var lines = await AccessLogFiles.WaitForLinesAsync(Path(gateway), 2);

        Assert.Equal("/app/x?page=2&sort=name", lines[0].GetProperty("path").GetString());
        Assert.Equal("/by-query/x?page=3&api_key=[redacted]", lines[1].GetProperty("path").GetString());
        Assert.Equal("alice", lines[1].GetProperty("consumer").GetString());
        Assert.DoesNotContain("alice-key", await File.ReadAllTextAsync(Path(gateway)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fields_RestrictEachLine()
    {
        await using var gateway = await StartAsync("output: access.log\nfields: [status, route, attempts]");
        await GetAsync(gateway, "/app/x");
        await GetAsync(gateway, "/nowhere", HttpStatusCode.NotFound);

        var lines = await AccessLogFiles.WaitForLinesAsync(Path(gateway), 2);

        // In the log's own order, whatever the order of the list.
        Assert.All(lines, l => Assert.Equal(["route", "status", "attempts"], l.EnumerateObject().Select(p => p.Name)));
        Assert.Equal("""{"route":"app","status":200,"attempts":1}""", AccessLogFiles.Lines(Path(gateway))[0]);
    }

    [Fact]
    public async Task SampleZero_LogsErrorsButNoSuccess()
    {
        await using var gateway = await StartAsync("output: access.log\nsampleSuccesses: 0");
        for (var i = 0; i < 5; i++) await GetAsync(gateway, "/app/x");
        await GetAsync(gateway, "/secure/x", HttpStatusCode.Unauthorized);
        await GetAsync(gateway, "/nowhere", HttpStatusCode.NotFound);

        // Lines are written in request order: once the 404 is there, a success would have been too.
        var lines = await AccessLogFiles.WaitForLinesAsync(Path(gateway), 2);

        Assert.Equal([401, 404], lines.Select(l => l.GetProperty("status").GetInt32()));
        var status = await AccessLogFiles.StatusAsync(gateway);
        Assert.Equal(5, status.GetProperty("sampledOut").GetInt64());
    }

    [Fact]
    public async Task Rotation_KeepsWholeLinesInFilesUnderTheLimit()
    {
        // Every line is {"path":"/app/NN","status":200} plus a newline: 32 bytes, so 6 fit in 200.
        await using var gateway = await StartAsync("output: access.log\nfields: [path, status]\nmaxFileSize: 200\nmaxFiles: 10");
        for (var i = 0; i < 30; i++) await GetAsync(gateway, $"/app/{i:00}");
        await Eventually.HoldsAsync(async () => (await AccessLogFiles.StatusAsync(gateway)).GetProperty("written").GetInt64() == 30, TimeSpan.FromSeconds(10), "30 lines written");

        var files = new[] { "access.log.4", "access.log.3", "access.log.2", "access.log.1", "access.log" }.Select(f => Path(gateway, f)).ToList();
        Assert.All(files, f => Assert.True(File.Exists(f), f));
        Assert.False(File.Exists(Path(gateway, "access.log.5")));
        var paths = new List<string>();
        foreach (var file in files)
        {
            var text = await File.ReadAllTextAsync(file);
            Assert.True(text.Length <= 200, $"{file} has {text.Length} bytes");
            Assert.EndsWith("\n", text, StringComparison.Ordinal);
            var lines = AccessLogFiles.Lines(file);
            Assert.Equal(6, lines.Length);
            paths.AddRange(lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("path").GetString()!));
        }
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"/app/{i:00}"), paths);
    }

    [Fact]
    public async Task Reload_SwitchesTheFileWithoutLosingALine()
    {
        await using var gateway = await StartAsync("output: first.log");
        await GetAsync(gateway, "/app/one");
        await AccessLogFiles.WaitForLinesAsync(Path(gateway, "first.log"), 1);

        await gateway.RewriteConfigAsync(AccessLogTests.Config(_upstream.Endpoint, "output: second.log\nfields: [path]"));
        await Eventually.HoldsAsync(async () => await gateway.GenerationAsync() == 2, TimeSpan.FromSeconds(10), "the reload applied");
        await GetAsync(gateway, "/app/two");
        await AccessLogFiles.WaitForLinesAsync(Path(gateway, "second.log"), 1);

        Assert.Equal(["/app/one"], AccessLogFiles.Lines(Path(gateway, "first.log")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("path").GetString()));
        Assert.Equal(["""{"path":"/app/two"}"""], AccessLogFiles.Lines(Path(gateway, "second.log")));
    }

    [Fact]
    public async Task Reload_TurnsTheLogOnAndOff()
    {
        var directory = TempDirectory.Create();
        await using var gateway = await TestGateway.StartAsync($$"""
            routes: [{ id: app, match: { path: "/app/{**rest}" }, cluster: backend }]
            clusters: [{ id: backend, endpoints: ["{{_upstream.Endpoint}}"] }]
            """, directory);
        Assert.False((await AccessLogFiles.StatusAsync(gateway)).GetProperty("enabled").GetBoolean());
        await GetAsync(gateway, "/app/before");

        await gateway.RewriteConfigAsync(AccessLogTests.Config(_upstream.Endpoint, "output: access.log\nfields: [path]"));
        await Eventually.HoldsAsync(async () => await gateway.GenerationAsync() == 2, TimeSpan.FromSeconds(10), "the reload applied");
        await GetAsync(gateway, "/app/during");
        await AccessLogFiles.WaitForLinesAsync(Path(gateway), 1);

        await gateway.RewriteConfigAsync($$"""
            routes: [{ id: app, match: { path: "/app/{**rest}" }, cluster: backend }]
            clusters: [{ id: backend, endpoints: ["{{_upstream.Endpoint}}"] }]
            """);
        await Eventually.HoldsAsync(async () => await gateway.GenerationAsync() == 3, TimeSpan.FromSeconds(10), "the second reload applied");
        await GetAsync(gateway, "/app/after");
        await gateway.Host.StopAsync();

        Assert.Equal(["""{"path":"/app/during"}"""], AccessLogFiles.Lines(Path(gateway)));
    }

    [Fact]
    public async Task OutputThatCannotBeOpened_IsCountedAndRetried_TheWriterKeepsGoing()
    {
        await using var gateway = await StartAsync("output: first.log\nfields: [path]");
        var logs = Path(gateway, "logs");
        Directory.CreateDirectory(logs);
        await gateway.RewriteConfigAsync(AccessLogTests.Config(_upstream.Endpoint, "output: logs/access.log\nfields: [path]"));
        await Eventually.HoldsAsync(async () => await gateway.GenerationAsync() == 2, TimeSpan.FromSeconds(10), "the reload applied");

        // The directory goes away after the config was accepted: the writer cannot open the file.
        Directory.Delete(logs);
        await GetAsync(gateway, "/app/lost");
        await Eventually.HoldsAsync(async () => (await AccessLogFiles.StatusAsync(gateway)).GetProperty("writeErrors").GetInt64() == 1, TimeSpan.FromSeconds(10), "one write error");

        Directory.CreateDirectory(logs);
        await GetAsync(gateway, "/app/kept");

        Assert.Equal(["""{"path":"/app/kept"}"""], (await AccessLogFiles.WaitForLinesAsync(System.IO.Path.Combine(logs, "access.log"), 1)).Select(l => l.GetRawText()));
    }

    [Fact]
    public async Task FullQueue_DropsLinesInsteadOfBlockingRequests()
    {
        // A FIFO with no reader: the writer blocks opening it, so the queue (2 lines) fills and stays full.
        var directory = TempDirectory.Create();
        var fifo = System.IO.Path.Combine(directory, "access.fifo");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", fifo)) await mkfifo.WaitForExitAsync();
        await using var gateway = await StartAsync("output: access.fifo\nfields: [path]\nqueue: 2", directory);
        var meters = gateway.Host.Gateway.Services.GetRequiredService<IMeterFactory>();
        long measuredDrops = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Name == "meshgate.accesslog.dropped") l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref measuredDrops, value));
        listener.Start();

        const int requests = 20;
        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < requests; i++) await GetAsync(gateway, $"/app/{i}");
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(10), $"{requests} requests took {elapsed.Elapsed}");

        // One line is with the blocked writer, two are queued; every other one was dropped.
        var status = await AccessLogFiles.StatusAsync(gateway);
        var dropped = status.GetProperty("dropped").GetInt64();
        Assert.InRange(dropped, requests - 3, requests - 2);
        Assert.Equal(dropped, Interlocked.Read(ref measuredDrops));
        Assert.Equal(2, status.GetProperty("queued").GetInt32());

        // A reader unblocks the writer: what was kept arrives, whole and in order.
        await using var reader = new FileStream(fifo, FileMode.Open, FileAccess.Read);
        using var lines = new StreamReader(reader);
        var kept = new List<string>();
        for (var i = 0; i < requests - dropped; i++)
        {
            var line = await lines.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
            kept.Add(JsonDocument.Parse(line!).RootElement.GetProperty("path").GetString()!);
        }
        Assert.Equal("/app/0", kept[0]);
        await Eventually.HoldsAsync(async () => (await AccessLogFiles.StatusAsync(gateway)).GetProperty("written").GetInt64() == requests - dropped, TimeSpan.FromSeconds(10), "the kept lines counted as written");
    }
}
