using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.TestKit;

/// <summary>What an echo upstream received: the request as the gateway forwarded it.</summary>
public sealed record EchoedRequest(string Method, string Path, string Query, string Host, IReadOnlyDictionary<string, string> Headers, long BodyLength)
{
    /// <summary>The header's values as received (joined with ", "), or null when the upstream did not get it.</summary>
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    public static async Task<EchoedRequest> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType?.MediaType != "application/json" || !response.Headers.Contains(EchoUpstream.Marker))
        {
            throw new InvalidOperationException($"not an echo response ({(int)response.StatusCode}): {text}");
        }
        using var json = JsonDocument.Parse(text);
        var root = json.RootElement;
        var headers = root.GetProperty("headers").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.OrdinalIgnoreCase);
        return new EchoedRequest(root.GetProperty("method").GetString()!, root.GetProperty("path").GetString()!, root.GetProperty("query").GetString()!,
            root.GetProperty("host").GetString()!, headers, root.GetProperty("bodyLength").GetInt64());
    }
}

public static class EchoUpstream
{
    /// <summary>Response header that marks an answer as coming from the echo upstream, not the gateway.</summary>
    public const string Marker = "x-echo";

    /// <summary>
    /// An upstream that answers every request with 200 and a JSON description of what it received
    /// (method, path, query, Host, every header, body length). <paramref name="respond"/> may add
    /// response headers or change the status before the body is written.
    /// </summary>
    public static Task<TestUpstream> StartAsync(Action<HttpContext>? respond = null) => TestUpstream.StartAsync(app => app.Run(async context =>
    {
        var request = context.Request;
        long length = 0;
        var buffer = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, context.RequestAborted)) > 0) length += read;
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["method"] = request.Method,
            ["path"] = request.Path.Value ?? "",
            ["query"] = request.QueryString.Value ?? "",
            ["host"] = request.Host.Value ?? "",
            ["headers"] = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString()),
            ["bodyLength"] = length,
        });
        context.Response.Headers[Marker] = "1";
        respond?.Invoke(context);
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body);
    }));
}
