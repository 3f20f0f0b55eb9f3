using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.TestKit;

/// <summary>
/// An upstream that answers 200 and counts what reached it: TCP connections accepted and requests
/// handled. A test asserts a rejected request left both counts unchanged, i.e. it never reached here.
/// </summary>
public sealed class RecordingUpstream : IAsyncDisposable
{
    private TestUpstream _upstream = null!;
    private int _connections;
    private int _requests;

    public int Connections => Volatile.Read(ref _connections);

    public int Requests => Volatile.Read(ref _requests);

    public string Endpoint => _upstream.Endpoint;

    public static async Task<RecordingUpstream> StartAsync()
    {
        var recording = new RecordingUpstream();
        recording._upstream = await TestUpstream.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref recording._requests);
            long length = 0;
            var buffer = new byte[8192];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0) length += read;
            context.Response.Headers["x-upstream"] = "recording";
            await context.Response.WriteAsync($"received {length}");
        }), listen: options => options.Use(next => connection =>
        {
            Interlocked.Increment(ref recording._connections);
            return next(connection);
        }));
        return recording;
    }

    public ValueTask DisposeAsync() => _upstream.DisposeAsync();
}
