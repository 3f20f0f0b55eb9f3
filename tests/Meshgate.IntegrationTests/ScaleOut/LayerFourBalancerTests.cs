using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.ScaleOut;

/// <summary>
/// deploy/haproxy/haproxy.cfg, as docs/scale-out.md shows it, in front of three `meshgate gateway --etcd` processes:
/// connections reach every node, and a node killed outright is taken out by the health check, after which no request
/// fails.
/// </summary>
[Trait("Runs", "meshgate")]
public sealed class LayerFourBalancerTests : IAsyncLifetime
{
    // What HAProxy may take to notice a dead node: `inter 1s fall 3` is about 3 s; the rest is a loaded test machine.
    private static readonly TimeSpan DetectionBound = TimeSpan.FromSeconds(15);

    private ScaleOutBackends _backends = null!;

    public async Task InitializeAsync()
    {
        _backends = await ScaleOutBackends.StartAsync();
    }

    public Task DisposeAsync() => _backends.DisposeAsync().AsTask();

    [Fact]
    public async Task HaproxyExample_ReachesAllThreeNodes_AndTakesAKilledNodeOut_WithNoFailedRequestAfterDetection()
    {
        var binary = await DebianServerBinary.FindOrInstallAsync("haproxy", "haproxy", "your platform's haproxy 2.4+ package", "the layer-4 balancer test");
        await using var nodes = await _backends.StartNodesAsync(3);
        var port = DebianServerBinary.FreePort();
        var config = Path.Combine(TempDirectory.Create(), "haproxy.cfg");
        await File.WriteAllTextAsync(config, ScaleOutExamples.HaproxyConfigForTest(port, nodes.Urls));
        await using var haproxy = BalancerProcess.Start(binary, config);
        // Connection: close on every request: at layer 4 the balancer picks a node per connection, not per request.
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(20) };
        async Task<HttpStatusCode> GetAsync(string path)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.ConnectionClose = true;
            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }

        await haproxy.CheckAsync(async () =>
        {
            await Eventually.HoldsAsync(async () =>
            {
                try
                {
                    return await GetAsync("/catalog/warmup") == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(20), "the balancer forwards");

            for (var i = 0; i < 30; i++) Assert.Equal(HttpStatusCode.OK, await GetAsync($"/catalog/{i}"));
            var before = new double[3];
            for (var node = 0; node < 3; node++)
            {
                before[node] = await nodes.RequestsAsync(node, "catalog");
                Assert.True(before[node] >= 5, $"node {node} answered {before[node]} of the 30 requests through the balancer");
            }

            var clock = Stopwatch.StartNew();
            var results = new ConcurrentBag<(TimeSpan Started, string? Failure)>();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            var loops = Enumerable.Range(0, 4).Select(loop => Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    var started = clock.Elapsed;
                    try
                    {
                        var status = await GetAsync($"/catalog/load-{loop}-{i % 50}");
                        results.Add((started, status == HttpStatusCode.OK ? null : $"status {(int)status}"));
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        results.Add((started, e.GetType().Name + ": " + e.Message));
                    }
                }
            })).ToList();

            TimeSpan killed, down;
            try
            {
                await Eventually.HoldsAsync(() => Task.FromResult(results.Count >= 100), TimeSpan.FromSeconds(30), "the load runs");
                killed = clock.Elapsed;
                await nodes.KillAsync(1);
                await Eventually.HoldsAsync(() => Task.FromResult(haproxy.Output.Contains("meshgate-nodes/gw2 is DOWN", StringComparison.Ordinal)),
                    DetectionBound, "HAProxy takes the killed node out");
                down = clock.Elapsed;
                var after = results.Count;
                await Eventually.HoldsAsync(() => Task.FromResult(results.Count >= after + 200), TimeSpan.FromSeconds(60), "the load runs on after the node is out");
            }
            finally
            {
                await stop.CancelAsync();
                await Task.WhenAll(loops);
            }

            var failedAfterDetection = results.Where(r => r.Started >= down && r.Failure is not null).ToList();
            var failedBefore = results.Count(r => r.Started < down && r.Failure is not null);
            Assert.True(failedAfterDetection.Count == 0,
                $"{failedAfterDetection.Count} requests failed after HAProxy took the node out ({down - killed} after the kill), e.g. {failedAfterDetection.FirstOrDefault().Failure}");
            // Only what was in flight on the killed node at that moment can fail: the balancer retries refused connections.
            Assert.True(failedBefore <= 4, $"{failedBefore} requests failed between the kill and the detection");
            Assert.True(results.Count(r => r.Started >= down) >= 200);
            foreach (var node in new[] { 0, 2 })
            {
                Assert.True(await nodes.RequestsAsync(node, "catalog") > before[node] + 50, $"node {node} took the load after node 1 was out");
            }
        });
    }

    /// <summary>haproxy -db (foreground, its log on stderr) as a child process.</summary>
    private sealed class BalancerProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _output = new();

        private BalancerProcess(Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public string Output => string.Join("\n", _output);

        public static BalancerProcess Start(string binary, string config)
        {
            var info = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { "-db", "-f", config }) info.ArgumentList.Add(arg);
            return new BalancerProcess(Process.Start(info) ?? throw new InvalidOperationException("haproxy did not start"));
        }

        public async Task CheckAsync(Func<Task> assertions)
        {
            try
            {
                await assertions();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new InvalidOperationException($"{e.GetType().Name}: {e.Message}\n--- haproxy output ---\n{Output}", e);
            }
        }

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
}
