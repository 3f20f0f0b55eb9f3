using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.TestKit;

/// <summary>What a <see cref="FaultyUpstream"/> does with the requests it gets.</summary>
public enum UpstreamFault
{
    /// <summary>200 with its name as the body (and in x-upstream), after echoing nothing else.</summary>
    None,
    /// <summary>Answers <see cref="FaultyUpstream.Status"/> with a body naming itself.</summary>
    Status,
    /// <summary>Waits <see cref="FaultyUpstream.Delay"/> (or until the request is aborted), then answers 200.</summary>
    Slow,
    /// <summary>Drops the connection before sending response headers.</summary>
    ResetBeforeHeaders,
    /// <summary>Sends headers and part of the body, then drops the connection.</summary>
    ResetMidBody,
}

/// <summary>
/// An upstream whose failure mode the test switches, and which counts the requests it got, the ones whose
/// request was aborted by the caller (RequestAborted fired while it waited), and the bodies it received.
/// </summary>
public sealed class FaultyUpstream : IAsyncDisposable
{
    private int _requests;
    private int _aborted;
    private int _active;
    private int _maxActive;
    private TestUpstream? _upstream;
    private readonly System.Collections.Concurrent.ConcurrentQueue<CancellationTokenSource> _held = new();

    private FaultyUpstream(string name) => Name = name;

    public string Name { get; }
    public string Endpoint { get; private set; } = "";

    public volatile UpstreamFault Fault;
    public volatile int Status = StatusCodes.Status503ServiceUnavailable;
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>With <see cref="UpstreamFault.Status"/>: how long to work before failing, so failures overlap.</summary>
    public TimeSpan StatusDelay { get; set; }

    /// <summary>Requests received (all paths but /healthz).</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Requests whose RequestAborted fired while the upstream was still working on them.</summary>
    public int Aborted => Volatile.Read(ref _aborted);

    /// <summary>Most requests in progress at once.</summary>
    public int MaxConcurrent => Volatile.Read(ref _maxActive);

    /// <summary>Request bodies received, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Bodies { get; } = new();

    /// <summary>Completes when a request is aborted by the caller.</summary>
    public TaskCompletionSource AbortSeen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Requests <see cref="UpstreamFault.Slow"/> holds right now.</summary>
    public int Active => Volatile.Read(ref _active);

    /// <summary>
    /// Drops the connection of the oldest request <see cref="UpstreamFault.Slow"/> holds; false when it holds none.
    /// One after another, as a dead process's callers see the requests they sent it one by one.
    /// </summary>
    public bool DropHeldRequest()
    {
        while (_held.TryDequeue(out var held))
        {
            try
            {
                held.Cancel();
                return true;
            }
            catch (ObjectDisposedException)
            {
                // That request ended meanwhile.
            }
        }
        return false;
    }

    public static async Task<FaultyUpstream> StartAsync(string name, UpstreamFault fault = UpstreamFault.None)
    {
        var upstream = new FaultyUpstream(name) { Fault = fault };
        upstream._upstream = await TestUpstream.StartAsync(app =>
        {
            app.MapGet("/healthz", () => "ok");
            app.Map("/{**rest}", upstream.HandleAsync);
        });
        upstream.Endpoint = upstream._upstream.Endpoint;
        return upstream;
    }

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        var active = Interlocked.Increment(ref _active);
        for (var max = _maxActive; active > max && Interlocked.CompareExchange(ref _maxActive, active, max) != max; max = _maxActive) { }
        try
        {
            using (var reader = new StreamReader(context.Request.Body))
            {
                var body = await reader.ReadToEndAsync(context.RequestAborted);
                if (body.Length > 0) Bodies.Enqueue(body);
            }
            context.Response.Headers["x-upstream"] = Name;
            switch (Fault)
            {
                case UpstreamFault.Status:
                    if (StatusDelay > TimeSpan.Zero) await Task.Delay(StatusDelay, context.RequestAborted);
                    context.Response.StatusCode = Status;
                    await context.Response.WriteAsync($"{Name} failed");
                    return;
                case UpstreamFault.Slow:
                    try
                    {
                        using var held = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
                        _held.Enqueue(held);
                        await Task.Delay(Delay, held.Token);
                    }
                    catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
                    {
                        context.Abort();
                        return;
                    }
                    catch (OperationCanceledException)
                    {
                        Interlocked.Increment(ref _aborted);
                        AbortSeen.TrySetResult();
                        return;
                    }
                    break;
                case UpstreamFault.ResetBeforeHeaders:
                    context.Abort();
                    return;
                case UpstreamFault.ResetMidBody:
                    context.Response.ContentLength = 10_000;
                    await context.Response.WriteAsync(new string('x', 100));
                    await context.Response.Body.FlushAsync();
                    await Task.Delay(50);
                    context.Abort();
                    return;
            }
            await context.Response.WriteAsync(Name);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            Interlocked.Increment(ref _aborted);
            AbortSeen.TrySetResult();
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    /// <summary>Stops the upstream: its port refuses connections from now on.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _upstream, null) is { } upstream) await upstream.DisposeAsync();
    }
}
