using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Compilation;

/// <summary>
/// A <c>discovery: mesh</c> cluster: its destinations are the live instances of <paramref name="Service"/>, and each
/// must present the SPIFFE id of <paramref name="Service"/> in <paramref name="Namespace"/>.
/// </summary>
public sealed record MeshClusterPolicy(string Service, string Namespace)
{
    /// <summary>
    /// Outlier detection for a mesh cluster that sets none: the first gateway error (a refused connect, a reset, a
    /// failed mTLS handshake, a 502/503/504) ejects the instance, so callers stop using a dead one long before the
    /// registry's lease expires.
    /// </summary>
    public static readonly OutlierDetectionDefinition DefaultOutlierDetection = new() { ConsecutiveGatewayErrors = 1 };

    public static MeshClusterPolicy? Compile(ClusterDefinition cluster, MeshDefinition? mesh) =>
        cluster.Discovery == ClusterDiscovery.Mesh && cluster.Service is { } service
            ? new MeshClusterPolicy(service, cluster.Namespace ?? mesh?.Namespace ?? "default")
            : null;
}
