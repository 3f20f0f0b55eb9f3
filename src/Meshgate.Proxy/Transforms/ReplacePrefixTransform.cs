using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Transforms;

namespace Meshgate.Proxy.Transforms;

/// <summary>/from/x becomes /to/x; a path that does not start with the prefix (on a segment boundary) is left alone.</summary>
internal sealed class ReplacePrefixTransform(string from, string to) : RequestTransform
{
    private readonly PathString _from = new(from.TrimEnd('/'));
    private readonly PathString _to = new(to.TrimEnd('/'));

    public override ValueTask ApplyAsync(RequestTransformContext context)
    {
        context.Path = Apply(context.Path);
        return default;
    }

    /// <summary>The rule itself, shared with the direct HTTP/1.1 path.</summary>
    public PathString Apply(PathString path)
    {
        if (!path.StartsWithSegments(_from, StringComparison.OrdinalIgnoreCase, out var rest)) return path;
        var replaced = _to.Add(rest);
        return replaced.HasValue ? replaced : new PathString("/");
    }
}
