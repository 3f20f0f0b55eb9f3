using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Compilation;

/// <summary>
/// What keeps a cluster off the direct HTTP/1.1 upstream path, in one place: the validator refuses
/// <c>forwarder: direct</c> for these, and <c>forwarder: auto</c> falls back to YARP with the same reason.
/// </summary>
public static class ForwarderObstacles
{
    /// <summary>
    /// Why the cluster cannot use the direct path ("cluster asks for HTTP/2"), or null when it can. TLS (https://
    /// endpoints with the cluster's tls settings) and mesh clusters (mutual TLS with the workload identity) are no
    /// obstacle: the direct path speaks HTTP/1.1 over TLS with the same checks as YARP's client.
    /// </summary>
    public static string? OfCluster(ClusterDefinition cluster)
    {
        if (cluster.HttpVersion == UpstreamHttpVersion.Http2) return "cluster asks for HTTP/2 (httpVersion: \"2\")";
        if (cluster.CircuitBreaker?.MaxConnectionsPerEndpoint is not null) return "cluster limits connections per endpoint (circuitBreaker.maxConnectionsPerEndpoint)";
        return null;
    }
}
