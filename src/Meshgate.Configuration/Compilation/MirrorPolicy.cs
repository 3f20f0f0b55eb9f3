namespace Meshgate.Configuration.Compilation;

/// <summary>A route's compiled mirror settings.</summary>
/// <param name="PartsPerMillion">The share of requests copied, 0..1,000,000.</param>
/// <param name="CompareHeaders">Response headers compared with compare on; empty otherwise.</param>
public sealed record MirrorPolicy(string RouteId, string ClusterId, int PartsPerMillion, bool Compare, IReadOnlyList<string> CompareHeaders,
    long MaxBody, int Queue, TimeSpan Timeout);
