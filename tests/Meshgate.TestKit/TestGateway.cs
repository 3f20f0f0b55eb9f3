using Meshgate.Configuration;
using Meshgate.Roles.Edge;

namespace Meshgate.TestKit;

/// <summary>
/// The real gateway role, started in-process from YAML written to a temp file (so reload-on-change
/// works as in production), on free loopback ports.
/// </summary>
public sealed class TestGateway : IAsyncDisposable
{
    private readonly GatewayHost _host;

    private TestGateway(GatewayHost host, string directory, string configPath)
    {
        _host = host;
        Directory = directory;
        ConfigPath = configPath;
        Client = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = host.ListenerUrls[0].Url };
        Admin = new HttpClient { BaseAddress = host.AdminUrl };
    }

    public GatewayHost Host => _host;
    public string Directory { get; }
    public string ConfigPath { get; }

    /// <summary>Talks to the first listener.</summary>
    public HttpClient Client { get; }

    public HttpClient Admin { get; }

    public Uri Url => _host.ListenerUrls[0].Url;

    /// <summary>
    /// Default listener (127.0.0.1:0) and admin (127.0.0.1:0) are added when the YAML has none,
    /// so a test writes only what it is about.
    /// </summary>
    /// <param name="time">The gateway's clock, e.g. a <see cref="ShiftedClock"/>; the system clock when null.</param>
    /// <param name="identity">A mesh identity to hand the gateway (instead of one from the mesh section's control plane).</param>
    public static async Task<TestGateway> StartAsync(string yaml, string? directory = null, TimeProvider? time = null, Proxy.Mesh.IWorkloadIdentity? identity = null)
    {
        directory ??= TempDirectory.Create();
        var path = Path.Combine(directory, "meshgate.yaml");
        await File.WriteAllTextAsync(path, WithDefaults(yaml));
        var result = ConfigLoader.LoadFile(path);
        if (result.Snapshot is not { } snapshot)
        {
            throw new InvalidOperationException("test config is invalid:\n" + string.Join("\n", result.Errors));
        }
        var host = GatewayHost.Create(snapshot, () => ConfigLoader.LoadFile(path), path, time: time, identity: identity, store: new Configuration.Sources.FileConfigStore(path));
        await host.StartAsync();
        if (snapshot.Definition.Stores.Redis?.Connection is { } redis) await RedisConnectedAsync(host, redis);
        return new TestGateway(host, directory, path);
    }

    // The gateway's first connect to Redis gives up after a second and retries in the background, falling back meanwhile
    // (docs/rate-limiting.md). A loaded machine can miss that second, and a test's first requests would then count
    // locally. So a reachable Redis is waited for; a test's dead one is not.
    private static async Task RedisConnectedAsync(GatewayHost host, string connection)
    {
        if (host.Gateway.Services.GetService(typeof(Proxy.Redis.RedisConnection)) is not Proxy.Redis.RedisConnection redis) return;
        // The first of its servers stands for all: a test of a Redis cluster waits for one to answer.
        if (StackExchange.Redis.ConfigurationOptions.Parse(connection).EndPoints.FirstOrDefault() is not { } endpoint) return;
        using (var probe = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
        {
            try { await probe.ConnectAsync(endpoint).WaitAsync(TimeSpan.FromSeconds(1)); }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or TimeoutException) { return; }
        }
        var multiplexer = await redis.For(connection);
        try
        {
            await Eventually.HoldsAsync(() => Task.FromResult(multiplexer.IsConnected), TimeSpan.FromSeconds(15), $"the gateway's connection to {connection} is up");
        }
        catch (TimeoutException)
        {
            // A test of a Redis the gateway cannot use (a wrong password, say) sees what the gateway does then.
        }
    }

    public static string WithDefaults(string yaml)
    {
        var text = yaml;
        if (!text.Contains("listeners:", StringComparison.Ordinal)) text = "listeners:\n  - name: test\n    address: 127.0.0.1:0\n" + text;
        if (!text.Contains("admin:", StringComparison.Ordinal)) text = "admin:\n  address: 127.0.0.1:0\n" + text;
        if (!text.Contains("logging:", StringComparison.Ordinal)) text = "logging:\n  level: warning\n" + text;
        return text;
    }

    /// <summary>
    /// Sends a request through the gateway and returns which named upstream (<see cref="TestUpstream.NamedAsync"/>)
    /// answered, or "status N" when the answer came from no named upstream.
    /// </summary>
    public async Task<string> UpstreamForAsync(string path, Action<HttpRequestMessage>? setup = null, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, path);
        setup?.Invoke(request);
        using var response = await Client.SendAsync(request);
        return response.Headers.TryGetValues("x-upstream", out var values) ? values.Single() : $"status {(int)response.StatusCode}";
    }

    /// <summary>The config generation the admin API reports (1 at start, +1 per applied reload).</summary>
    public async Task<int> GenerationAsync()
    {
        using var status = System.Text.Json.JsonDocument.Parse(await Admin.GetStringAsync("/admin/config/status"));
        return status.RootElement.GetProperty("generation").GetInt32();
    }

    /// <summary>Rewrites the config file (with the same defaults) for the file watcher to pick up.</summary>
    public Task RewriteConfigAsync(string yaml) => File.WriteAllTextAsync(ConfigPath, WithDefaults(yaml));

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Admin.Dispose();
        await _host.StopAsync();
        await _host.DisposeAsync();
    }
}

public static class TempDirectory
{
    public static string Create()
    {
        var path = Path.Combine(Path.GetTempPath(), "meshgate-tests", Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(path);
        return path;
    }
}
