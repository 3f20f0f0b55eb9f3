namespace Meshgate.Proxy.Mesh;

/// <summary>
/// Set on every connection a meshTls listener accepts: the caller's verified SPIFFE id on an mTLS connection, null on
/// a plaintext one (permissive mode). Its presence is what marks a request as arriving on a mesh listener.
/// </summary>
public sealed class MeshPeerFeature(string? callerSpiffeId)
{
    public string? CallerSpiffeId { get; } = callerSpiffeId;
}
