using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Caching;

/// <summary>
/// A real upstream whose answer each test scripts (status, headers, body), counting the requests that reach it
/// and keeping the last request's headers.
/// </summary>
internal sealed class CacheUpstream : IAsyncDisposable
{
    private TestUpstream _upstream = null!;
    private int _requests;

    /// <summary>Writes the response; the default answers 200 "body N" (with its Content-Length) where N counts requests.</summary>
    public Func<HttpContext, int, Task> Respond { get; set; } = (context, n) => WriteBody(context, $"body {n}");

    public int Requests => Volatile.Read(ref _requests);
    public IHeaderDictionary? LastRequestHeaders { get; private set; }
    public string Endpoint => _upstream.Endpoint;

    public static async Task<CacheUpstream> StartAsync()
    {
        var result = new CacheUpstream();
        result._upstream = await TestUpstream.StartAsync(app => app.Run(context =>
        {
            var n = Interlocked.Increment(ref result._requests);
            result.LastRequestHeaders = new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value));
            return result.Respond(context, n);
        }));
        return result;
    }

    /// <summary>An answer with these headers and "body N".</summary>
    public void Answer(params (string Name, string Value)[] headers) => Respond = (context, n) =>
    {
        foreach (var (name, value) in headers) context.Response.Headers.Append(name, value);
        return WriteBody(context, $"body {n}");
    };

    /// <summary>Writes <paramref name="body"/> with its Content-Length (Kestrel would send it chunked otherwise).</summary>
    public static Task WriteBody(HttpContext context, string body)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(body);
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes).AsTask();
    }

    public ValueTask DisposeAsync() => _upstream.DisposeAsync();
}

/// <summary>A fresh <see cref="CacheUpstream"/> per test: the cache tests count the requests it answers.</summary>
public abstract class CacheUpstreamTestBase : IAsyncLifetime
{
    internal CacheUpstream Upstream { get; private set; } = null!;

    public async Task InitializeAsync() => Upstream = await CacheUpstream.StartAsync();

    public async Task DisposeAsync() => await Upstream.DisposeAsync();
}
