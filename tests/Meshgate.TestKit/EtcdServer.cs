using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Meshgate.TestKit;

/// <summary>
/// A real single-member etcd (Debian's etcd-server, 3.4) on free loopback client and peer ports with its own temp data
/// directory, for the control plane's etcd store. It installs etcd-server with apt-get when missing and running as root;
/// otherwise it fails saying what to install. <see cref="StopAsync"/> kills it and <see cref="StartAsync()"/> starts it
/// again on the same ports and the same data, so a test sees an outage and then the same revisions and keys.
/// </summary>
public sealed class EtcdServer : IAsyncDisposable
{
    private readonly string _executable;
    private readonly string _dataDirectory;
    private readonly List<string> _output = [];
    private Process? _process;

    private EtcdServer(string executable, int clientPort, int peerPort)
    {
        _executable = executable;
        ClientPort = clientPort;
        PeerPort = peerPort;
        _dataDirectory = Directory.CreateTempSubdirectory("meshgate-etcd-").FullName;
    }

    public int ClientPort { get; }

    public int PeerPort { get; }

    /// <summary>host:port of the client listener, as `--store etcd://` takes it.</summary>
    public string Endpoint => $"127.0.0.1:{ClientPort}";

    /// <summary>The `--store` value for this server.</summary>
    public string StoreUrl => $"etcd://{Endpoint}";

    public static async Task<EtcdServer> StartAsync()
    {
        var (client, peer) = (DebianServerBinary.FreePort(), DebianServerBinary.FreePort());
        while (peer == client) peer = DebianServerBinary.FreePort();
        var server = new EtcdServer(await DebianServerBinary.FindOrInstallAsync("etcd", "etcd-server", "your platform's etcd 3.4+ package", "the control plane's etcd store tests"), client, peer);
        try
        {
            await server.StartAgainAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>Starts etcd (again, after <see cref="StopAsync"/>) on the same ports with the same data; returns once it answers /health.</summary>
    public async Task StartAgainAsync()
    {
        if (_process is { HasExited: false }) return;
        var start = new ProcessStartInfo(_executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var client = $"http://127.0.0.1:{ClientPort.ToString(CultureInfo.InvariantCulture)}";
        var peer = $"http://127.0.0.1:{PeerPort.ToString(CultureInfo.InvariantCulture)}";
        // Short heartbeat and election timeouts: a single member elects itself at once, and etcd's smallest lease
        // TTL (one and a half election timeouts) drops below a second, so lease tests need not wait long.
        string[] args =
        [
            "--name", "meshgate-test", "--data-dir", _dataDirectory,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"meshgate-test={peer}", "--initial-cluster-state", "new",
            "--heartbeat-interval", "20", "--election-timeout", "200",
            "--logger", "zap", "--log-level", "error",
        ];
        foreach (var arg in args) start.ArgumentList.Add(arg);
        _process = Process.Start(start) ?? throw new InvalidOperationException("etcd did not start");
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        while (!await HealthyAsync(http))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                string output;
                lock (_output) output = string.Join("\n", _output.TakeLast(20));
                throw new InvalidOperationException($"etcd on 127.0.0.1:{ClientPort} did not become healthy:\n{output}");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Kills etcd (SIGKILL: an abrupt outage); the data directory stays for <see cref="StartAgainAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process) return;
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by the dying process: the temp directory is cleaned up by the system later.
        }
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        lock (_output) _output.Add(line);
    }

    private async Task<bool> HealthyAsync(HttpClient http)
    {
        try
        {
            var body = await http.GetStringAsync($"http://127.0.0.1:{ClientPort}/health");
            return body.Contains("\"health\":\"true\"", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }
}
