using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.TestKit;

/// <summary>
/// An upstream that answers every path with its name (body and x-upstream header) and a /healthz,
/// whose probe result and answer status the test switches, and which counts what it served.
/// </summary>
public sealed class SwitchableUpstream : IAsyncDisposable
{
    private volatile bool _healthy = true;
    private volatile int _status = StatusCodes.Status200OK;
    private int _served;
    private TestUpstream _upstream = null!;

    private SwitchableUpstream(string name) => Name = name;

    public string Name { get; }

    /// <summary>The URL as a config endpoint string.</summary>
    public string Endpoint => _upstream.Endpoint;

    /// <summary>/healthz answers 200 when true, 503 when false.</summary>
    public bool Healthy { get => _healthy; set => _healthy = value; }

    /// <summary>Status of every answer other than /healthz.</summary>
    public int Status { get => _status; set => _status = value; }

    /// <summary>Requests served, health probes not counted.</summary>
    public int Served => Volatile.Read(ref _served);

    public static async Task<SwitchableUpstream> StartAsync(string name)
    {
        var upstream = new SwitchableUpstream(name);
        upstream._upstream = await TestUpstream.StartAsync(app =>
        {
            app.MapGet("/healthz", () => upstream._healthy ? Results.Ok("ok") : Results.StatusCode(StatusCodes.Status503ServiceUnavailable));
            app.Map("/{**rest}", (HttpContext context) =>
            {
                Interlocked.Increment(ref upstream._served);
                context.Response.Headers["x-upstream"] = name;
                return Results.Text(name, statusCode: upstream._status);
            });
        });
        return upstream;
    }

    public ValueTask DisposeAsync() => _upstream.DisposeAsync();
}
