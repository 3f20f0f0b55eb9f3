using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Lifecycle;

/// <summary>The executable itself: signals, drain and exit codes.</summary>
[Trait("Runs", "meshgate")]
public sealed class ProcessLifecycleTests
{
    private static string Config(string endpoint, string drain = "10s") => $$"""
        listeners:
          - name: public
            address: 127.0.0.1:0
        admin:
          address: 127.0.0.1:0
        logging:
          level: info
        shutdown:
          drainTimeout: {{drain}}
        routes:
          - id: all
            match: { pathPrefix: / }
            cluster: app
        clusters:
          - id: app
            endpoints: ["{{endpoint}}"]
        """;

    [Fact]
    public async Task StartedInADirectoryWithManySubdirectories_WatchesOnlyItsConfigFile()
    {
        // A working directory like a repository or a log root: a watch on all of it would wake the process on
        // every file written below (ASP.NET Core's appsettings watch is recursive on the working directory).
        var dir = TempDirectory.Create();
        for (var i = 0; i < 30; i++) Directory.CreateDirectory(Path.Combine(dir, $"logs-{i}", "archive"));
        var config = Path.Combine(dir, "meshgate.yaml");
        await File.WriteAllTextAsync(config, Config("http://127.0.0.1:1"));
        await using var process = MeshgateProcess.Start(["gateway", "-c", config], workingDirectory: dir);
        await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(30));

        // One inotify watch per watched directory, listed as an "inotify wd:" line in the fdinfo of its descriptor.
        var watches = Directory.GetFiles($"/proc/{process.Id}/fdinfo")
            .Sum(f => { try { return File.ReadLines(f).Count(l => l.StartsWith("inotify wd:", StringComparison.Ordinal)); } catch (IOException) { return 0; } });
        await process.CheckAsync(() =>
        {
            // The config file's own directory (the reload watch); 61 directories would be watched per recursive watch.
            Assert.InRange(watches, 1, 2);
            return Task.CompletedTask;
        });
    }

    [Fact]
    public async Task Sigterm_InFlightRequestFinishes_NewConnectionsRefused_Exit0()
    {
        var release = new TaskCompletionSource();
        var arrived = new TaskCompletionSource();
        await using var upstream = await TestUpstream.StartAsync(app => app.MapGet("/slow", async () =>
        {
            arrived.TrySetResult();
            await release.Task;
            return "finished";
        }));
        var dir = TempDirectory.Create();
        var config = Path.Combine(dir, "meshgate.yaml");
        await File.WriteAllTextAsync(config, Config(upstream.Endpoint));
        await using var process = MeshgateProcess.Start("gateway", "-c", config);
        var urls = await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = urls[0], Timeout = TimeSpan.FromSeconds(20) };

        var inFlight = client.GetAsync("/slow");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        process.Signal("TERM");
        await Task.Delay(500);

        // Draining: the listener no longer accepts.
        using var fresh = new HttpClient { BaseAddress = urls[0], Timeout = TimeSpan.FromSeconds(5) };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => fresh.GetAsync("/slow"));
        Assert.False(process.HasExited);
        using var admin = new HttpClient { BaseAddress = urls[1], Timeout = TimeSpan.FromSeconds(5) };
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await admin.GetAsync("/admin/health/ready")).StatusCode);

        release.SetResult();
        using var response = await inFlight;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("finished", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task Sigterm_DrainTimeoutBoundsShutdown()
    {
        await using var upstream = await TestUpstream.StartAsync(app => app.MapGet("/hang", async (HttpContext context) =>
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
            return "never";
        }));
        var dir = TempDirectory.Create();
        var config = Path.Combine(dir, "meshgate.yaml");
        await File.WriteAllTextAsync(config, Config(upstream.Endpoint, drain: "1s"));
        await using var process = MeshgateProcess.Start("gateway", "-c", config);
        var urls = await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = urls[0] };
        var hanging = client.GetAsync("/hang");
        await Task.Delay(300);

        var clock = Stopwatch.StartNew();
        process.Signal("TERM");
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(15));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"shutdown took {clock.Elapsed}");
        Assert.Equal(0, exitCode);
        await Assert.ThrowsAnyAsync<Exception>(() => hanging);
    }

    [Fact]
    public async Task Sighup_ReloadsWithoutFileWatch()
    {
        await using var one = await TestUpstream.NamedAsync("one");
        await using var two = await TestUpstream.NamedAsync("two");
        var dir = TempDirectory.Create();
        var config = Path.Combine(dir, "meshgate.yaml");
        await File.WriteAllTextAsync(config, Config(one.Endpoint));
        await using var process = MeshgateProcess.Start("gateway", "-c", config, "--no-watch");
        var urls = await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = urls[0] };
        using var admin = new HttpClient { BaseAddress = urls[1] };
        Assert.Equal("one", (await client.GetAsync("/x")).Headers.GetValues("x-upstream").Single());

        await File.WriteAllTextAsync(config, Config(two.Endpoint));
        await Task.Delay(700); // longer than the watcher's settle time: with --no-watch nothing happens
        Assert.Equal("one", (await client.GetAsync("/x")).Headers.GetValues("x-upstream").Single());

        process.Signal("HUP");
        await Eventually.HoldsAsync(async () =>
            JsonDocument.Parse(await admin.GetStringAsync("/admin/config/status")).RootElement.GetProperty("lastTrigger").GetString() == "SIGHUP",
            TimeSpan.FromSeconds(10), "SIGHUP triggers a reload");
        Assert.Equal("two", (await client.GetAsync("/x")).Headers.GetValues("x-upstream").Single());
        Assert.False(process.HasExited);
    }

    [Fact]
    public async Task Logs_OneJsonObjectPerLine()
    {
        await using var upstream = await TestUpstream.NamedAsync("u");
        var dir = TempDirectory.Create();
        var config = Path.Combine(dir, "meshgate.yaml");
        await File.WriteAllTextAsync(config, Config(upstream.Endpoint));
        await using var process = MeshgateProcess.Start("gateway", "-c", config);
        await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(30));
        process.Signal("TERM");
        await process.WaitForExitAsync(TimeSpan.FromSeconds(15));
        var lines = process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.All(lines, line =>
        {
            var entry = JsonDocument.Parse(line).RootElement;
            Assert.True(entry.TryGetProperty("LogLevel", out _), line);
            Assert.True(entry.TryGetProperty("Timestamp", out _), line);
        });
    }
}
