using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Meshgate.TestKit;

/// <summary>
/// The real executable as a child process, for what only a process shows: signals, exit codes, drain.
/// Ports come from its own "Now listening on" log lines, so configs can use port 0.
/// </summary>
public sealed partial class MeshgateProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private MeshgateProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;
    public string Output => string.Join("\n", _output);
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public static MeshgateProcess Start(params string[] args) => Start(args, workingDirectory: null);

    /// <summary>Whether <see cref="Start(string[])"/> runs a Native AOT publish (MESHGATE_PUBLISH of <c>MESHGATE_BUILD=aot scripts/publish</c>): one executable, no assemblies.</summary>
    public static bool NativeAot => Environment.GetEnvironmentVariable("MESHGATE_PUBLISH") is { } publish
        && File.Exists(Path.Combine(publish, "meshgate")) && !File.Exists(Path.Combine(publish, "meshgate.dll"));

    /// <summary>
    /// As <see cref="Start(string[])"/>, in <paramref name="workingDirectory"/> (null: the test's) and with extra
    /// <paramref name="environment"/> variables (e.g. a token named by tokenEnv), without touching the test process's own.
    /// </summary>
    public static MeshgateProcess Start(string[] args, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        // MESHGATE_PUBLISH names a publish to run instead of the build's meshgate.dll: these tests against the shipped,
        // trimmed build of scripts/publish (docs/performance.md#memory).
        var publish = Environment.GetEnvironmentVariable("MESHGATE_PUBLISH");
        // A Native AOT publish (MESHGATE_BUILD=aot scripts/publish) is the executable alone, with no meshgate.dll.
        var selfContained = publish is not null && (!File.Exists(Path.Combine(publish, "meshgate.dll"))
            || File.ReadAllText(Path.Combine(publish, "meshgate.runtimeconfig.json")).Contains("\"includedFrameworks\""));
        var info = new ProcessStartInfo(selfContained ? Path.Combine(publish!, "meshgate") : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        if (!selfContained) info.ArgumentList.Add(Path.Combine(publish ?? AppContext.BaseDirectory, "meshgate.dll"));
        foreach (var arg in args) info.ArgumentList.Add(arg);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        return new MeshgateProcess(Process.Start(info)!);
    }

    /// <summary>The URLs the process reported listening on, in order (gateway listeners first, then admin).</summary>
    public async Task<IReadOnlyList<Uri>> WaitForListenersAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            var urls = _output.SelectMany(l => ListeningOn().Matches(l).Select(m => new Uri(m.Groups[1].Value))).ToList();
            if (urls.Count >= count) return urls;
            await Task.Delay(50);
        }
        throw new TimeoutException($"meshgate did not report {count} listeners; output:\n{Output}");
    }

    /// <summary>Runs the test's assertions; a failure carries the process's output, which usually says why.</summary>
    public async Task CheckAsync(Func<Task> assertions)
    {
        try
        {
            await assertions();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{e.GetType().Name}: {e.Message}\n--- meshgate output ---\n{Output}", e);
        }
    }

    public void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-" + name, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    [GeneratedRegex(@"Now listening on: (https?://[^\s""\\]+)")]
    private static partial Regex ListeningOn();

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
