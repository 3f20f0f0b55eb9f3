using System.Net.Http.Headers;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.ScaleOut;

/// <summary>
/// Gateway nodes as real OS processes, started as the doc starts them: the config pushed with `meshgate config push`,
/// then `meshgate gateway --etcd` per node. Ports come from each process's log.
/// </summary>
internal sealed class GatewayProcesses : IAsyncDisposable
{
    private readonly List<MeshgateProcess> _processes;
    private readonly HashSet<int> _killed = [];

    private GatewayProcesses(List<MeshgateProcess> processes, List<(Uri Public, Uri Admin)> urls)
    {
        _processes = processes;
        Urls = urls;
        Clients = urls.Select(u => new HttpClient { BaseAddress = u.Public, Timeout = TimeSpan.FromSeconds(30) }).ToList();
        Admins = urls.Select(u =>
        {
            var admin = new HttpClient { BaseAddress = u.Admin, Timeout = TimeSpan.FromSeconds(30) };
            admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ScaleOutExamples.AdminToken);
            return admin;
        }).ToList();
    }

    public IReadOnlyList<MeshgateProcess> Processes => _processes;
    public IReadOnlyList<(Uri Public, Uri Admin)> Urls { get; }
    public IReadOnlyList<HttpClient> Clients { get; }
    public IReadOnlyList<HttpClient> Admins { get; }

    /// <summary>`meshgate config push -c FILE --etcd URL --prefix P`, which must exit 0.</summary>
    public static async Task PushAsync(EtcdServer etcd, string prefix, string yaml)
    {
        var file = Path.Combine(TempDirectory.Create(), "gateway.yaml");
        await File.WriteAllTextAsync(file, yaml);
        await using var push = MeshgateProcess.Start("config", "push", "-c", file, "--etcd", etcd.StoreUrl, "--prefix", prefix);
        var exit = await push.WaitForExitAsync(TimeSpan.FromSeconds(90));
        Assert.True(exit == 0, $"config push exited {exit}:\n{push.Output}");
    }

    /// <summary>`meshgate gateway --etcd URL --etcd-prefix P`, <paramref name="count"/> times; returns once every node listens.</summary>
    public static async Task<GatewayProcesses> StartAsync(EtcdServer etcd, string prefix, int count)
    {
        var processes = new List<MeshgateProcess>();
        try
        {
            var urls = new List<(Uri, Uri)>();
            var exits = new List<string>();
            // One at a time, as a rolling start would: three cold .NET processes at once on a loaded machine start slowly.
            while (processes.Count < count)
            {
                var process = MeshgateProcess.Start("gateway", "--etcd", etcd.StoreUrl, "--etcd-prefix", prefix);
                IReadOnlyList<Uri> listening;
                try
                {
                    listening = await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(90));
                }
                catch (TimeoutException) when (process.HasExited)
                {
                    // Waiting for the exit also waits for the rest of its output, which may still be on its way.
                    await process.WaitForExitAsync(TimeSpan.FromSeconds(10));
                    exits.Add($"exit {process.ExitCode}, output: {process.Output}");
                    await process.DisposeAsync();
                    // Seen on the shared test machine, rarely: a process that exits 1 at start without a word. A node's
                    // supervisor (systemd, the kubelet) starts it again; so does the test, once per node, and says so.
                    if (exits.Count > processes.Count + 1) throw new InvalidOperationException("meshgate gateway exited before it listened, again:\n" + string.Join("\n", exits));
                    continue;
                }
                processes.Add(process);
                // The gateway and admin listeners start side by side, so their log lines may come in either order.
                urls.Add(await IsAdminAsync(listening[0]) ? (listening[1], listening[0]) : (listening[0], listening[1]));
            }
            var nodes = new GatewayProcesses(processes, urls);
            // Ready as a balancer or the kubelet sees it; the first answer also takes a cold process's start-up cost.
            foreach (var admin in nodes.Admins)
            {
                await Eventually.HoldsAsync(async () =>
                {
                    using var ready = await admin.GetAsync("/admin/health/ready");
                    return ready.IsSuccessStatusCode;
                }, TimeSpan.FromSeconds(60), $"{admin.BaseAddress} is ready");
            }
            return nodes;
        }
        catch
        {
            foreach (var process in processes) await process.DisposeAsync();
            throw;
        }
    }

    private static async Task<bool> IsAdminAsync(Uri url)
    {
        using var client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        using var live = await client.GetAsync("/admin/health/live");
        return live.IsSuccessStatusCode;
    }

    /// <summary>Kills node <paramref name="node"/> outright (SIGKILL, a crash: nothing drains) and waits for it to be gone.</summary>
    public async Task KillAsync(int node)
    {
        await _processes[node].DisposeAsync();
        _killed.Add(node);
    }

    /// <summary>Requests node <paramref name="node"/> has answered on <paramref name="route"/>, from its metrics.</summary>
    public async Task<double> RequestsAsync(int node, string route) =>
        (await PrometheusScrape.GetAsync(Admins[node])).Sum("http_server_request_duration_seconds_count", ("meshgate_route", route));

    public async ValueTask DisposeAsync()
    {
        foreach (var client in Clients.Concat(Admins)) client.Dispose();
        for (var node = 0; node < _processes.Count; node++)
        {
            if (!_killed.Contains(node)) await _processes[node].DisposeAsync();
        }
    }
}
