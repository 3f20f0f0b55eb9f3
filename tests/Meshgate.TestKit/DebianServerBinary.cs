using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Meshgate.TestKit;

/// <summary>
/// What the tests' real servers (Redis, etcd) share: their binary from Debian's package, installed with apt-get when
/// missing and the tests run as root, and free loopback ports to start them on.
/// </summary>
public static class DebianServerBinary
{
    // One lock for every package: two apt-get runs at once fail on dpkg's own lock.
    private static readonly SemaphoreSlim InstallLock = new(1, 1);

    /// <summary>The path of <paramref name="binary"/>, installing <paramref name="package"/> first when it is missing.</summary>
    /// <param name="purpose">Which tests need it, for the error when it cannot be had, e.g. "the shared rate-limit tests".</param>
    /// <param name="alternative">What else provides it, for that error, e.g. "your platform's redis package".</param>
    public static async Task<string> FindOrInstallAsync(string binary, string package, string alternative, string purpose)
    {
        if (Find(binary) is { } found) return found;
        await InstallLock.WaitAsync();
        try
        {
            if (Find(binary) is { } again) return again;
            if (Environment.UserName != "root")
            {
                throw new InvalidOperationException($"{binary} is not installed: install it (apt-get install -y {package}, or {alternative}) to run {purpose}");
            }
            var install = Process.Start(new ProcessStartInfo("bash", ["-c", $"DEBIAN_FRONTEND=noninteractive apt-get install -y {package} || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y {package})"]) { UseShellExecute = false })!;
            await install.WaitForExitAsync();
            return Find(binary) ?? throw new InvalidOperationException($"apt-get install -y {package} did not provide {binary}; install it to run {purpose}");
        }
        finally
        {
            InstallLock.Release();
        }
    }

    /// <summary>A loopback port nothing listens on now, for a server another process will start on it.</summary>
    /// <remarks>
    /// Taken below the kernel's ephemeral range (net.ipv4.ip_local_port_range): a port the kernel picks for port 0 is
    /// one it also gives to outgoing connections, and a process that takes seconds to start in a loaded suite lost its
    /// port to one of the suite's own client connections now and then (a sidecar that never registered). Below the
    /// range only a listener can take it; this process hands each port out once, and checks it is free by binding it.
    /// </remarks>
    public static int FreePort()
    {
        var (first, last) = PortsBelowEphemeralRange.Value;
        if (first > last) return KernelPickedPort();   // an ephemeral range reaching down to 10000: nothing to gain
        lock (HandedOut)
        {
            var start = Random.Shared.Next(first, last + 1);
            for (var i = 0; i <= last - first; i++)
            {
                var port = first + (start - first + i) % (last - first + 1);
                if (HandedOut.Contains(port) || !Bindable(port)) continue;
                HandedOut.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException($"no free loopback port between {first} and {last}");
    }

    private static readonly HashSet<int> HandedOut = [];

    private static readonly Lazy<(int First, int Last)> PortsBelowEphemeralRange = new(() =>
    {
        var low = 32768;   // Linux's default when the setting cannot be read
        try
        {
            low = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            // Not Linux, or no /proc: keep the default.
        }
        return (Math.Max(10000, low - 12000), low - 1);
    });

    private static int KernelPickedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool Bindable(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string? Find(string binary) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin").Append("/usr/sbin")
            .Select(d => Path.Combine(d, binary)).FirstOrDefault(File.Exists);
}
