namespace Meshgate.Configuration.Compilation;

/// <summary>
/// Keys of the YARP <c>Metadata</c> dictionaries that carry our compiled settings to the data plane.
/// The compiler writes them; the load-balancing and health policies read them. Values are invariant-culture strings.
/// </summary>
public static class MetadataKeys
{
    /// <summary>Destination: relative weight, an integer 0..1000 (0 = no new traffic). Absent means 1.</summary>
    public const string Weight = "meshgate.weight";

    /// <summary>Cluster: what consistent hashing hashes: <c>header</c>, <c>cookie</c> or <c>client-ip</c>.</summary>
    public const string HashSource = "meshgate.hash.source";

    /// <summary>Cluster: the header or cookie name for <see cref="HashSource"/> header/cookie.</summary>
    public const string HashName = "meshgate.hash.name";

    /// <summary>Cluster: consecutive successful probes before an unhealthy endpoint is healthy again (integer, default 1).</summary>
    public const string HealthyThreshold = "meshgate.health.healthyThreshold";

    /// <summary>Cluster: consecutive failed probes before a healthy endpoint is taken out (integer, default 3).</summary>
    public const string UnhealthyThreshold = "meshgate.health.unhealthyThreshold";

    /// <summary>Cluster: changes whenever the upstream HTTP client settings we apply ourselves change.</summary>
    public const string UpstreamFingerprint = "meshgate.upstream.fingerprint";

    /// <summary>Route: the config version, so every applied change makes YARP rebuild the route's endpoint.</summary>
    public const string RouteFingerprint = "meshgate.route.fingerprint";

    /// <summary>Cluster: the mesh service whose live instances are the destinations (discovery: mesh); absent for other clusters.</summary>
    public const string MeshService = "meshgate.mesh.service";

    /// <summary>Cluster: present ("true") when a route with hedging targets it; its HTTP client then gets the hedging handler.</summary>
    public const string Hedged = "meshgate.hedged";
}

/// <summary>Names under which our policies register with YARP.</summary>
public static class PolicyNames
{
    public const string RoundRobin = "meshgate-round-robin";
    public const string LeastRequests = "meshgate-least-requests";
    public const string PowerOfTwoChoices = "meshgate-power-of-two-choices";
    public const string Random = "meshgate-random";
    public const string ConsistentHash = "meshgate-consistent-hash";
    public const string ActiveHealth = "meshgate-thresholds";
    public const string OutlierDetection = "meshgate-outlier-detection";
}
