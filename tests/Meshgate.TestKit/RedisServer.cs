using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Meshgate.TestKit;

/// <summary>
/// A real redis-server on a free loopback port, without persistence, for shared rate-limit tests. It installs
/// redis-server with apt-get when missing and running as root; otherwise it fails saying what to install.
/// <see cref="StopAsync"/> and <see cref="RestartAsync"/> give an outage on the same port.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _executable;
    private Process? _process;

    private RedisServer(string executable, int port)
    {
        _executable = executable;
        Port = port;
    }

    public int Port { get; }

    /// <summary>host:port, as stores.redis.connection takes it.</summary>
    public string Connection => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(await DebianServerBinary.FindOrInstallAsync("redis-server", "redis-server", "your platform's redis package", "the shared rate-limit tests"), DebianServerBinary.FreePort());
        await server.RestartAsync();
        return server;
    }

    /// <summary>Starts the server (again, after <see cref="StopAsync"/>) on the same port, empty.</summary>
    public async Task RestartAsync()
    {
        var start = new ProcessStartInfo(_executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" }) start.ArgumentList.Add(arg);
        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!await PingsAsync())
        {
            if (_process.HasExited || DateTime.UtcNow > deadline) throw new InvalidOperationException($"redis-server on port {Port} did not answer PING");
            await Task.Delay(20);
        }
    }

    public async Task StopAsync()
    {
        if (_process is not { HasExited: false } process) return;
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>Script calls (EVAL and EVALSHA) the server has answered since it started, from INFO commandstats.</summary>
    public async Task<long> ScriptCallsAsync()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        var stream = client.GetStream();
        await stream.WriteAsync("INFO commandstats\r\n"u8.ToArray());
        // A bulk string: $LENGTH\r\n then the text; read until all of it is in.
        var text = new StringBuilder();
        var buffer = new byte[8192];
        int? length = null;
        while (length is null || Encoding.ASCII.GetByteCount(text.ToString()) < length)
        {
            var read = await stream.ReadAsync(buffer);
            if (read == 0) break;
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            var all = text.ToString();
            var header = all.IndexOf("\r\n", StringComparison.Ordinal);
            if (length is null && header > 0)
            {
                length = int.Parse(all.AsSpan(1, header - 1), System.Globalization.CultureInfo.InvariantCulture) + header + 2;
            }
        }
        long calls = 0;
        foreach (var line in text.ToString().Split("\r\n"))
        {
            if (!line.StartsWith("cmdstat_eval:", StringComparison.Ordinal) && !line.StartsWith("cmdstat_evalsha:", StringComparison.Ordinal)) continue;
            var value = line.Split(':')[1].Split(',')[0]; // calls=N
            calls += long.Parse(value["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        }
        return calls;
    }

    private async Task<bool> PingsAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
