using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>A route's traffic keys: where it forwards (cluster or split), mirror and faults.</summary>
internal static class TrafficValidator
{
    public const int MaxWeight = 1_000_000;
    public const int MaxQueue = 100_000;
    public static readonly ByteSize MaxMirrorBody = new(16 << 20);

    public static void Validate(IReadOnlyList<RouteDefinition> routes, IReadOnlyList<ClusterDefinition> clusters, ValidationContext context)
    {
        var clusterIds = clusters.Where(c => c.Id is not null).Select(c => c.Id!).ToList();
        for (var i = 0; i < routes.Count; i++)
        {
            var route = routes[i];
            var path = $"routes[{i}]";
            ValidateTarget(route, path, clusterIds, context);
            if (route.Mirror is { } mirror) ValidateMirror(route, mirror, $"{path}.mirror", clusterIds, context);
            if (route.Faults is { } faults) ValidateFaults(faults, $"{path}.faults", context);
        }
    }

    /// <summary>The clusters a route forwards to: its cluster, or every cluster of its split.</summary>
    public static IEnumerable<string> PrimaryClusters(RouteDefinition route) =>
        route.Split is { } split ? split.Where(s => s.Cluster is not null).Select(s => s.Cluster!) : route.Cluster is { } c ? [c] : [];

    private static void ValidateTarget(RouteDefinition route, string path, List<string> clusterIds, ValidationContext context)
    {
        if (route.Cluster is not null && route.Split is not null)
        {
            context.Error(path, "give either cluster or split, not both");
        }
        else if (route.Cluster is null && route.Split is null)
        {
            context.Error(path, "needs cluster (e.g. cluster: orders) or split (e.g. split: [{ cluster: orders, weight: 90 }, { cluster: orders-v2, weight: 10 }])");
        }

        if (route.Split is { } split)
        {
            if (split.Count == 0) context.Error($"{path}.split", "must list at least one cluster, e.g. [{ cluster: orders, weight: 90 }, { cluster: orders-v2, weight: 10 }]");
            var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (var j = 0; j < split.Count; j++)
            {
                var target = split[j];
                if (target.Cluster is { } cluster)
                {
                    if (!clusterIds.Contains(cluster, StringComparer.OrdinalIgnoreCase)) context.UnknownReference($"{path}.split[{j}].cluster", "cluster", cluster, clusterIds, "no clusters are defined");
                    else if (!seen.TryAdd(cluster, j)) context.Error($"{path}.split[{j}].cluster", $"cluster '{cluster}' is already in the split (split[{seen[cluster]}]); give it one entry with the summed weight");
                }
                if (target.Weight is < 0 or > MaxWeight) context.Error($"{path}.split[{j}].weight", $"must be 0..{MaxWeight}, found {target.Weight}");
            }
            if (split.Count > 0 && split.All(s => s.Weight == 0)) context.Error($"{path}.split", "every weight is 0: at least one cluster needs a weight above 0");
        }

        if (route.SplitBy is { } by)
        {
            if (route.Split is null) context.Error($"{path}.splitBy", "only applies to a route with split");
            var sources = (by.Header is not null ? 1 : 0) + (by.Cookie is not null ? 1 : 0);
            if (sources != 1) context.Error($"{path}.splitBy", $"give exactly one of header, cookie (found {sources})");
            if (by.Header is { } header && !Common.HttpSyntax.IsToken(header)) context.Error($"{path}.splitBy.header", $"'{header}' is not a valid header name");
            if (by.Cookie is { } cookie && !Common.HttpSyntax.IsToken(cookie)) context.Error($"{path}.splitBy.cookie", $"'{cookie}' is not a valid cookie name");
        }

        if (route.SplitOverride is { } over)
        {
            if (route.Split is null) context.Error($"{path}.splitOverride", "only applies to a route with split");
            if (over.Header is { } header && !Common.HttpSyntax.IsToken(header)) context.Error($"{path}.splitOverride.header", $"'{header}' is not a valid header name");
            if (over.Values is { Count: 0 }) context.Error($"{path}.splitOverride.values", "must map at least one header value to a cluster, e.g. { always: orders-v2 }");
            var splitClusters = route.Split?.Where(s => s.Cluster is not null).Select(s => s.Cluster!).ToList() ?? [];
            foreach (var (value, cluster) in over.Values ?? [])
            {
                if (route.Split is not null && !splitClusters.Contains(cluster, StringComparer.OrdinalIgnoreCase))
                {
                    context.Error($"{path}.splitOverride.values.{value}", $"'{cluster}' is not a cluster of the route's split ({string.Join(", ", splitClusters)})");
                }
            }
        }
    }

    private static void ValidateMirror(RouteDefinition route, MirrorDefinition mirror, string path, List<string> clusterIds, ValidationContext context)
    {
        if (mirror.Cluster is { } cluster)
        {
            if (!clusterIds.Contains(cluster, StringComparer.OrdinalIgnoreCase)) context.UnknownReference($"{path}.cluster", "cluster", cluster, clusterIds, "no clusters are defined");
            else if (PrimaryClusters(route).Contains(cluster, StringComparer.OrdinalIgnoreCase)) context.Error($"{path}.cluster", $"'{cluster}' already takes the route's requests; the shadow must be another cluster, or it would get every request twice");
        }
        CheckPercent(mirror.Percent, $"{path}.percent", context);
        if (mirror.CompareHeaders is { } headers)
        {
            if (!mirror.Compare) context.Error($"{path}.compareHeaders", "only used with compare: true");
            for (var i = 0; i < headers.Count; i++)
            {
                if (!Common.HttpSyntax.IsToken(headers[i])) context.Error($"{path}.compareHeaders[{i}]", $"'{headers[i]}' is not a valid header name");
            }
        }
        if (mirror.MaxBody.Bytes > MaxMirrorBody.Bytes) context.Error($"{path}.maxBody", "must be at most 16MiB: copies are held in memory until sent");
        if (mirror.Queue is < 1 or > MaxQueue) context.Error($"{path}.queue", $"must be 1..{MaxQueue}, found {mirror.Queue}");
        if (mirror.Timeout <= TimeSpan.Zero) context.Error($"{path}.timeout", "must be greater than 0");
    }

    private static void ValidateFaults(FaultsDefinition faults, string path, ValidationContext context)
    {
        if (faults.Abort is null && faults.Delay is null) context.Error(path, "give abort (e.g. { status: 503, percent: 5 }), delay (e.g. { duration: 2s, percent: 10 }) or both");
        if (faults.Abort is { } abort)
        {
            if (abort.Status is { } status and (< 200 or > 599)) context.Error($"{path}.abort.status", $"must be an HTTP status 200..599, found {status}");
            CheckPercent(abort.Percent, $"{path}.abort.percent", context);
        }
        if (faults.Delay is { } delay)
        {
            if (delay.Duration is { } duration && duration <= TimeSpan.Zero) context.Error($"{path}.delay.duration", "must be greater than 0");
            CheckPercent(delay.Percent, $"{path}.delay.percent", context);
        }
        if (faults.Header is { } header && !Common.HttpSyntax.IsToken(header)) context.Error($"{path}.header", $"'{header}' is not a valid header name");
    }

    private static void CheckPercent(double percent, string path, ValidationContext context)
    {
        if (!(percent is >= 0 and <= 100)) context.Error(path, $"must be a percentage 0..100, found {percent.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
    }
}
