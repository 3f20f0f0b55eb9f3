using Meshgate.Proxy.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.Proxy.Routing;

/// <summary>
/// One path, one policy: the path that picks the route (and so its authentication) must be the path
/// the upstream receives. Kestrel has already decoded percent-encoding once (except %2F) and removed
/// dot segments; YARP re-encodes <see cref="HttpRequest.Path"/> when it forwards. What is left to do
/// here: merge repeated slashes, and reject every spelling an upstream could read differently from
/// us. The rules are in docs/security.md, "Paths".
/// </summary>
internal sealed class PathNormalizationMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value;
        if (string.IsNullOrEmpty(path)) return next(context);
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        var verdict = PathRules.Inspect(path, raw, out var reason);
        if (verdict == PathVerdict.Reject)
        {
            return ProblemResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "Bad path", reason!, "bad-path");
        }
        if (verdict == PathVerdict.MergeSlashes)
        {
            context.Request.Path = new PathString(PathRules.MergeSlashes(path));
        }
        return next(context);
    }
}

internal enum PathVerdict { Normal, MergeSlashes, Reject }

/// <summary>The path rules, without allocating when the path is already normal.</summary>
internal static class PathRules
{
    /// <param name="path">The decoded path, as Kestrel leaves it in <see cref="HttpRequest.Path"/>.</param>
    /// <param name="rawTarget">The request target as sent, or null when unknown.</param>
    public static PathVerdict Inspect(ReadOnlySpan<char> path, string? rawTarget, out string? reason)
    {
        reason = null;
        var merge = false;
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            switch (c)
            {
                case '/':
                    if (i > 0 && path[i - 1] == '/') merge = true;
                    break;
                case '.':
                    // Kestrel has removed "." and ".." segments; a segment that still ends in a dot ("admin.", "...")
                    // is one that Windows file systems and some servers shorten.
                    if (i + 1 == path.Length || path[i + 1] == '/')
                    {
                        reason = "A path segment ends with '.', which some servers drop.";
                        return PathVerdict.Reject;
                    }
                    break;
                case '%':
                    // Kestrel decodes once and leaves %2F as is: a '%' here is an encoded slash, double encoding
                    // (%25xx) or a malformed escape, each of which an upstream may decode again.
                    reason = "The path has an encoded slash (%2F), a double-encoded character (%25) or a malformed escape.";
                    return PathVerdict.Reject;
                case '\\':
                    reason = "The path has a backslash ('\\' or %5C), a separator to some servers.";
                    return PathVerdict.Reject;
                case ';':
                    reason = "The path has a ';' (or %3B); some servers cut path parameters off a segment.";
                    return PathVerdict.Reject;
                default:
                    if (c < 0x20 || c == 0x7F)
                    {
                        reason = "The path has a control character.";
                        return PathVerdict.Reject;
                    }
                    break;
            }
        }
        if (rawTarget is not null && rawTarget.AsSpan().Contains('%') && HasEncodedDotSegment(rawTarget))
        {
            reason = "The path has a dot segment spelt with %2E.";
            return PathVerdict.Reject;
        }
        return merge ? PathVerdict.MergeSlashes : PathVerdict.Normal;
    }

    /// <summary>A segment of the raw target that is "." or ".." once %2E is decoded, and used %2E to say so.</summary>
    private static bool HasEncodedDotSegment(ReadOnlySpan<char> raw)
    {
        var end = raw.IndexOfAny('?', '#');
        if (end >= 0) raw = raw[..end];
        while (!raw.IsEmpty)
        {
            var slash = raw.IndexOf('/');
            var segment = slash < 0 ? raw : raw[..slash];
            raw = slash < 0 ? default : raw[(slash + 1)..];
            int dots = 0, encoded = 0, i = 0;
            for (; i < segment.Length; i++)
            {
                if (segment[i] == '.') dots++;
                else if (segment[i] == '%' && i + 2 < segment.Length && segment[i + 1] == '2' && (segment[i + 2] | 0x20) == 'e')
                {
                    dots++;
                    encoded++;
                    i += 2;
                }
                else break;
            }
            if (i == segment.Length && encoded > 0 && dots <= 2) return true;
        }
        return false;
    }

    public static string MergeSlashes(string path) => string.Create(path.Length - CountRepeats(path), path, static (span, path) =>
    {
        var n = 0;
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] == '/' && i > 0 && path[i - 1] == '/') continue;
            span[n++] = path[i];
        }
    });

    private static int CountRepeats(string path)
    {
        var repeats = 0;
        for (var i = 1; i < path.Length; i++)
        {
            if (path[i] == '/' && path[i - 1] == '/') repeats++;
        }
        return repeats;
    }
}
