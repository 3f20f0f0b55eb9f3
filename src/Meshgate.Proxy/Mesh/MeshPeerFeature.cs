namespace Meshgate.Proxy.Mesh;

/// <summary>
/// Set on every connection a meshTls listener accepts: the caller's verified SPIFFE id on an mTLS connection, null on
/// a plaintext one (permissive mode). Its presence is what marks a request as arriving on a mesh listener.
/// </summary>
public sealed class MeshPeerFeature
{
    public MeshPeerFeature(string? callerSpiffeId)
    {
        CallerSpiffeId = callerSpiffeId;
        // Parsed once per connection, not per request: the golden metrics label every inbound request with it.
        (CallerNamespace, CallerService) = WorkloadOf(callerSpiffeId);
    }

    public string? CallerSpiffeId { get; }

    /// <summary>The caller's service (the id's <c>sa</c> segment); <see cref="Unknown"/> for a plaintext caller or an id of another shape.</summary>
    public string CallerService { get; }

    /// <summary>The caller's namespace (the id's <c>ns</c> segment); <see cref="Unknown"/> when <see cref="CallerService"/> is.</summary>
    public string CallerNamespace { get; }

    /// <summary>What a caller without a mesh identity is called in metrics.</summary>
    public const string Unknown = "unknown";

    /// <summary>(namespace, service) of <c>spiffe://trust-domain/ns/NAMESPACE/sa/SERVICE</c>, the shape the mesh's CA issues; (unknown, unknown) otherwise.</summary>
    internal static (string Namespace, string Service) WorkloadOf(string? spiffeId)
    {
        if (spiffeId is null || !spiffeId.StartsWith("spiffe://", StringComparison.Ordinal)) return (Unknown, Unknown);
        var path = spiffeId.AsSpan("spiffe://".Length);
        var slash = path.IndexOf('/');
        if (slash < 0) return (Unknown, Unknown);
        Span<Range> parts = stackalloc Range[5];
        path = path[(slash + 1)..];
        if (path.Split(parts, '/') != 4 || !path[parts[0]].SequenceEqual("ns") || !path[parts[2]].SequenceEqual("sa")
            || path[parts[1]].IsEmpty || path[parts[3]].IsEmpty)
        {
            return (Unknown, Unknown);
        }
        return (path[parts[1]].ToString(), path[parts[3]].ToString());
    }
}
