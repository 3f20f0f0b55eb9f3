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
        if (context.Path.StartsWithSegments(_from, StringComparison.OrdinalIgnoreCase, out var rest))
        {
            var path = _to.Add(rest);
            context.Path = path.HasValue ? path : new PathString("/");
        }
        return default;
    }
}
