using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Compilation;

/// <summary>
/// What keeps a cluster off the direct HTTP/1.1 upstream path, in one place: the validator refuses
/// <c>forwarder: direct</c> for these, and <c>forwarder: auto</c> falls back to YARP with the same reason.
/// </summary>
public static class ForwarderObstacles
{
    /// <summary>Why the cluster cannot use the direct path ("cluster uses TLS"), or null when it can.</summary>
    public static string? OfCluster(ClusterDefinition cluster)
    {
        if (cluster.Discovery == ClusterDiscovery.Mesh) return "mesh cluster (mutual TLS to the instances)";
        if (cluster.Endpoints.FirstOrDefault(e => e.Url?.StartsWith("https://", StringComparison.OrdinalIgnoreCase) == true) is { } tls)
        {
            return $"cluster uses TLS ({tls.Url})";
        }
        if (cluster.HttpVersion == UpstreamHttpVersion.Http2) return "cluster asks for HTTP/2 (httpVersion: \"2\")";
        if (cluster.CircuitBreaker?.MaxConnectionsPerEndpoint is not null) return "cluster limits connections per endpoint (circuitBreaker.maxConnectionsPerEndpoint)";
        return null;
    }
}
