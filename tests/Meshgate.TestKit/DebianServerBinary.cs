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

    /// <summary>A loopback port nothing listens on now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? Find(string binary) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin").Append("/usr/sbin")
            .Select(d => Path.Combine(d, binary)).FirstOrDefault(File.Exists);
}
