namespace Meshgate.Configuration.Compilation;

/// <summary>What a split may hash to stay sticky.</summary>
public enum SplitKeySource
{
    /// <summary>No key: every request draws a random share.</summary>
    None,
    Header,
    Cookie,
}

/// <summary>A route's compiled split: clusters on a line of cumulative weights, plus stickiness and override.</summary>
public sealed class TrafficSplitPolicy
{
    private readonly long[] _cumulative;

    /// <param name="targets">Cluster ids and weights, in config order; at least one weight above 0.</param>
    public TrafficSplitPolicy(string routeId, IReadOnlyList<(string ClusterId, int Weight)> targets, SplitKeySource keySource, string? keyName,
        string? overrideHeader, IReadOnlyDictionary<string, string>? overrideValues)
    {
        RouteId = routeId;
        Targets = targets;
        Clusters = targets.Select(t => t.ClusterId).ToArray();
        _cumulative = new long[targets.Count];
        long sum = 0;
        for (var i = 0; i < targets.Count; i++) _cumulative[i] = sum += targets[i].Weight;
        TotalWeight = sum;
        KeySource = keySource;
        KeyName = keyName;
        OverrideHeader = overrideHeader;
        OverrideValues = overrideValues;
    }

    public string RouteId { get; }
    public IReadOnlyList<(string ClusterId, int Weight)> Targets { get; }
    public IReadOnlyList<string> Clusters { get; }
    public long TotalWeight { get; }
    public SplitKeySource KeySource { get; }

    /// <summary>The header or cookie hashed when <see cref="KeySource"/> is not None.</summary>
    public string? KeyName { get; }

    public string? OverrideHeader { get; }

    /// <summary>Override header value (case-insensitive) to cluster id.</summary>
    public IReadOnlyDictionary<string, string>? OverrideValues { get; }

    /// <summary>The cluster whose share holds <paramref name="point"/>, a number in [0, TotalWeight).</summary>
    public string ClusterAt(long point)
    {
        // Splits have a handful of entries: a linear scan beats a binary search. A weight of 0 owns no point.
        for (var i = 0; i < _cumulative.Length; i++)
        {
            if (point < _cumulative[i]) return Clusters[i];
        }
        return Clusters[^1];
    }
}
