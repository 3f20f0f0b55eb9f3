using System.Collections.Concurrent;
using System.Net;

namespace Meshgate.TestKit;

/// <summary>
/// A bounded background load of GETs through a gateway: several loops, each up to a number of
/// requests, stopped by <see cref="StopAsync"/> or a time bound. Counts failed requests (non-200 or
/// transport errors) and which upstream answered (its <c>x-upstream</c> header), for tests that
/// change the config under load and must not lose a request.
/// </summary>
public sealed class UpstreamLoad : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly List<Task> _loops;
    private int _failures;

    private UpstreamLoad(HttpClient client, string path, int loops, int requestsPerLoop, TimeSpan bound)
    {
        _stop = new CancellationTokenSource(bound);
        _loops = Enumerable.Range(0, loops).Select(_ => Task.Run(() => LoopAsync(client, path, requestsPerLoop))).ToList();
    }

    /// <summary>Answers per upstream (the x-upstream response header), counted as they arrive.</summary>
    public ConcurrentDictionary<string, int> Seen { get; } = new();

    public int Failures => Volatile.Read(ref _failures);

    public static UpstreamLoad Start(HttpClient client, string path, int loops = 8, int requestsPerLoop = 2000, TimeSpan? bound = null) =>
        new(client, path, loops, requestsPerLoop, bound ?? TimeSpan.FromSeconds(20));

    public int SeenFrom(string upstream) => Seen.GetValueOrDefault(upstream);

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task LoopAsync(HttpClient client, string path, int requests)
    {
        for (var i = 0; i < requests && !_stop.IsCancellationRequested; i++)
        {
            try
            {
                using var response = await client.GetAsync(path, _stop.Token);
                if (response.StatusCode != HttpStatusCode.OK) Interlocked.Increment(ref _failures);
                else Seen.AddOrUpdate(response.Headers.GetValues("x-upstream").Single(), 1, (_, n) => n + 1);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref _failures);
            }
        }
    }
}
