using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.TestKit;

/// <summary>
/// A real upstream that holds every request until <see cref="Release"/>, then answers 200 "done": for what the gateway
/// shows while requests are in flight (concurrency limits, the in-flight count).
/// </summary>
public sealed class HeldUpstream : IAsyncDisposable
{
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TestUpstream _upstream = null!;
    private int _arrived;

    private HeldUpstream()
    {
    }

    /// <summary>The URL as a config endpoint string.</summary>
    public string Endpoint => _upstream.Endpoint;

    /// <summary>Requests that have reached the upstream (held or answered).</summary>
    public int Arrived => Volatile.Read(ref _arrived);

    public static async Task<HeldUpstream> StartAsync()
    {
        var held = new HeldUpstream();
        held._upstream = await TestUpstream.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref held._arrived);
            await held._released.Task;
            await context.Response.WriteAsync("done");
        }));
        return held;
    }

    /// <summary>Waits (up to 10 s) until <paramref name="count"/> requests have reached the upstream.</summary>
    public Task WaitForArrivalsAsync(int count, string because) =>
        Eventually.HoldsAsync(() => Task.FromResult(Arrived == count), TimeSpan.FromSeconds(10), because);

    /// <summary>Answers every held request, and every later one at once.</summary>
    public void Release() => _released.TrySetResult();

    public async ValueTask DisposeAsync()
    {
        Release();
        await _upstream.DisposeAsync();
    }
}
