using System.Security.Cryptography.X509Certificates;

namespace Meshgate.Proxy.Mesh;

/// <summary>
/// This process's mesh identity: its current workload certificate (with its private key, which never leaves the
/// process) and the CAs it trusts. Present in the proxy's services only when the config has a mesh section.
/// Readers take <see cref="Certificate"/> and <see cref="TrustBundle"/> afresh for each TLS handshake, so a renewed
/// certificate or a rotated bundle applies to new connections while open ones keep going.
/// </summary>
public interface IWorkloadIdentity
{
    /// <summary>The leaf to present (server and client side), with its private key and the chain up to the root.</summary>
    X509Certificate2 Certificate { get; }

    /// <summary>The intermediates between <see cref="Certificate"/> and a root, sent in the handshake.</summary>
    X509Certificate2Collection Chain { get; }

    /// <summary>The roots peers' certificates must chain to: during a CA rotation, the old and the new.</summary>
    X509Certificate2Collection TrustBundle { get; }

    /// <summary>This workload's SPIFFE id, e.g. spiffe://cluster.local/ns/default/sa/orders.</summary>
    string SpiffeId { get; }

    /// <summary>The SPIFFE id a workload of <paramref name="service"/> in <paramref name="ns"/> has in this trust domain.</summary>
    string SpiffeIdOf(string service, string ns);
}
