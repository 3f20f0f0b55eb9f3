using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.LoadBalancing;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.TrafficSplit;

/// <summary>Picks a split route's cluster for one request: override header, then sticky key, then chance.</summary>
internal static class TrafficSplitter
{
    public static string Choose(TrafficSplitPolicy split, HttpRequest request, IRandomSource random)
    {
        if (split.OverrideHeader is { } overrideHeader
            && request.Headers[overrideHeader] is { Count: > 0 } value
            && split.OverrideValues!.TryGetValue(value.ToString(), out var forced))
        {
            return forced;
        }

        var key = split.KeySource switch
        {
            SplitKeySource.Header => request.Headers[split.KeyName!].ToString(),
            SplitKeySource.Cookie => request.Cookies[split.KeyName!],
            _ => null,
        };
        return split.ClusterAt(string.IsNullOrEmpty(key) ? random.NextInt64(split.TotalWeight) : PointOf(key, split.TotalWeight));
    }

    /// <summary>
    /// Scales the key's hash onto [0, total) as a fraction, not a remainder: when weights change, a key keeps its
    /// place on the line, so only the keys near a moved boundary change cluster (90/10 to 80/20 moves a tenth).
    /// </summary>
    public static long PointOf(string key, long total) => (long)Math.BigMul(StableHash.Hash(key.AsSpan()), (ulong)total, out _);
}
