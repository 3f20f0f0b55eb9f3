using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Transforms;

namespace Meshgate.Proxy.Transforms;

/// <summary>
/// Headers named in a Connection header are hop-by-hop (RFC 9110 section 7.6.1) and must not be
/// forwarded. YARP drops the fixed hop-by-hop set (Connection, Keep-Alive, TE, ...) but not the names a
/// Connection header lists, so this removes those, in both directions. It runs first, before any route
/// transform, so a header the gateway itself sets cannot be removed by a client naming it.
/// </summary>
/// <remarks>
/// Kestrel keeps only the keep-alive token of a request's Connection list that has one ("close, x" arrives
/// as "close"), so names listed beside close or keep-alive cannot be seen here and still pass.
/// </remarks>
internal static class ConnectionHeadersTransform
{
    public static RequestTransform Request { get; } = new RequestSide();

    public static ResponseTransform Response { get; } = new ResponseSide();

    /// <summary>Header names a Connection value lists; the keep-alive and close options name no header. Allocates only for real names.</summary>
    private static IReadOnlyList<string> Named(string? value)
    {
        List<string>? names = null;
        foreach (var range in value.AsSpan().Split(','))
        {
            var token = value.AsSpan()[range].Trim();
            if (token.IsEmpty || token.Equals("keep-alive", StringComparison.OrdinalIgnoreCase) || token.Equals("close", StringComparison.OrdinalIgnoreCase)) continue;
            (names ??= []).Add(token.ToString());
        }
        return names ?? (IReadOnlyList<string>)[];
    }

    // The upgrade handshake is YARP's to forward; it re-adds Connection: Upgrade itself.
    private static bool Removable(string name) => !name.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Whether a Connection value names a header to drop, without allocating: the direct HTTP/1.1 path asks this of
    /// every header it copies, the YARP path removes the same names with <see cref="Named"/>.
    /// </summary>
    public static bool Lists(Microsoft.Extensions.Primitives.StringValues connection, string name) => Removable(name) && ListContains(connection, name);

    /// <summary>Whether a comma-separated header (Connection, TE) has the token, case-insensitively, without allocating.</summary>
    public static bool ListContains(Microsoft.Extensions.Primitives.StringValues values, string token)
    {
        foreach (var value in values)
        {
            foreach (var range in value.AsSpan().Split(','))
            {
                if (value.AsSpan()[range].Trim().Equals(token, StringComparison.OrdinalIgnoreCase)) return true;
            }
        }
        return false;
    }

    private sealed class RequestSide : RequestTransform
    {
        public override ValueTask ApplyAsync(RequestTransformContext context)
        {
            foreach (var value in context.HttpContext.Request.Headers.Connection)
            {
                var names = Named(value);
                for (var i = 0; i < names.Count; i++)
                {
                    var name = names[i];
                    if (!Removable(name)) continue;
                    context.ProxyRequest.Headers.Remove(name);
                    context.ProxyRequest.Content?.Headers.Remove(name);
                }
            }
            return default;
        }
    }

    private sealed class ResponseSide : ResponseTransform
    {
        public override ValueTask ApplyAsync(ResponseTransformContext context)
        {
            // Read without parsing: most upstreams send "Connection: keep-alive", which names nothing to remove.
            if (context.ProxyResponse is not { } response || !response.Headers.NonValidated.TryGetValues(HeaderNames.Connection, out var values))
            {
                return default;
            }
            foreach (var value in values)
            {
                var names = Named(value);
                for (var i = 0; i < names.Count; i++)
                {
                    if (Removable(names[i])) context.HttpContext.Response.Headers.Remove(names[i]);
                }
            }
            return default;
        }
    }
}
