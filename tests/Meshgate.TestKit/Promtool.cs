using System.Diagnostics;

namespace Meshgate.TestKit;

/// <summary>Prometheus' own linter for a scrape (`promtool check metrics`): what a real Prometheus would refuse or warn about.</summary>
public static class Promtool
{
    /// <summary>Runs `promtool check metrics` on <paramref name="scrape"/>; fails with what to install when promtool is missing.</summary>
    public static async Task<(int ExitCode, string Output)> CheckMetricsAsync(string scrape)
    {
        var promtool = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(directory => Path.Combine(directory, "promtool"))
            .FirstOrDefault(File.Exists) ?? throw new InvalidOperationException(
                "promtool is missing: install Debian's prometheus package (apt-get install -y prometheus); scripts/test installs it when run as root.");
        var start = new ProcessStartInfo(promtool, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(scrape);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output);
    }
}
