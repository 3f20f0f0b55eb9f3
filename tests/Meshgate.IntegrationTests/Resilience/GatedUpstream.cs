using System.Collections.Concurrent;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Resilience;

/// <summary>
/// A real upstream whose answers wait until the test opens the gate, and which counts what reached it:
/// requests, requests in flight (and the most at once), and the distinct connections they came on.
/// </summary>
internal sealed class GatedUpstream : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, byte> _connections = new();
    private TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TestUpstream _upstream = null!;
    private int _received;
    private int _inFlight;
    private int _maxInFlight;

    public string Endpoint => _upstream.Endpoint;

    public int Received => Volatile.Read(ref _received);

    public int InFlight => Volatile.Read(ref _inFlight);

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Distinct connections requests arrived on (Kestrel's connection id).</summary>
    public int Connections => _connections.Count;

    public static async Task<GatedUpstream> StartAsync()
    {
        var upstream = new GatedUpstream();
        upstream._upstream = await TestUpstream.StartAsync(app => app.Map("/{**rest}", upstream.HandleAsync));
        return upstream;
    }

    /// <summary>Lets every waiting and future request through.</summary>
    public void Open() => _gate.TrySetResult();

    /// <summary>Makes future requests wait again.</summary>
    public void Close() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _received);
        _connections.TryAdd(context.Connection.Id, 0);
        var inFlight = Interlocked.Increment(ref _inFlight);
        int max;
        while (inFlight > (max = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, inFlight, max) != max)
        {
        }
        try
        {
            // Bounded, so a test that forgets to open the gate fails instead of hanging.
            await _gate.Task.WaitAsync(TimeSpan.FromSeconds(20));
            await context.Response.WriteAsync("done");
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public ValueTask DisposeAsync()
    {
        Open();
        return _upstream.DisposeAsync();
    }
}
