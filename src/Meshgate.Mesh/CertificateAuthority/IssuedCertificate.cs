using System.Security.Cryptography.X509Certificates;

namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>A signed leaf, the intermediates between it and a root (leaf's issuer first), and the roots trusted now.</summary>
public sealed record IssuedCertificate(X509Certificate2 Leaf, IReadOnlyList<X509Certificate2> Chain, IReadOnlyList<X509Certificate2> TrustBundle, string SpiffeId);
