using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Compilation;

/// <summary>Builds a route's split, mirror and fault policies from its validated definition.</summary>
internal static class TrafficPolicyCompiler
{
    /// <summary>The cluster YARP's RouteConfig names: the route's cluster, or the split's heaviest (the first of equals).</summary>
    public static string PrimaryCluster(RouteDefinition route) =>
        route.Split is { Count: > 0 } split ? split.MaxBy(s => s.Weight)!.Cluster! : route.Cluster!;

    public static TrafficSplitPolicy? CompileSplit(RouteDefinition route)
    {
        if (route.Split is not { Count: > 0 } split) return null;
        var (source, name) = route.SplitBy switch
        {
            { Header: { } header } => (SplitKeySource.Header, header),
            { Cookie: { } cookie } => (SplitKeySource.Cookie, cookie),
            _ => (SplitKeySource.None, (string?)null),
        };
        var overrideValues = route.SplitOverride?.Values is { } values
            ? new Dictionary<string, string>(values, StringComparer.OrdinalIgnoreCase)
            : null;
        return new TrafficSplitPolicy(route.Id!, split.Select(s => (s.Cluster!, s.Weight)).ToList(), source, name, route.SplitOverride?.Header, overrideValues);
    }

    public static MirrorPolicy? CompileMirror(RouteDefinition route) => route.Mirror is { } m
        ? new MirrorPolicy(route.Id!, m.Cluster!, PartsPerMillion(m.Percent), m.Compare, m.CompareHeaders ?? [], m.MaxBody.Bytes, m.Queue, m.Timeout)
        : null;

    public static FaultPolicy? CompileFaults(RouteDefinition route) => route.Faults is { } f
        ? new FaultPolicy(route.Id!, f.Abort?.Status, f.Abort is { } a ? PartsPerMillion(a.Percent) : 0,
            f.Delay?.Duration, f.Delay is { } d ? PartsPerMillion(d.Percent) : 0, f.Header)
        : null;

    private static int PartsPerMillion(double percent) => (int)Math.Round(percent * 10_000);
}
