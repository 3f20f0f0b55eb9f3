using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Proxy.Authorization;

namespace Meshgate.Proxy.Mesh;

/// <summary>
/// Whether a peer's certificate is a workload of this mesh: it chains to the identity's trust bundle (read afresh, so a
/// rotated root counts at once), is valid now, allows the usage asked for, and carries exactly one spiffe:// URI SAN in
/// this trust domain. Used for client certificates on meshTls listeners (and fits the outbound side's server check).
/// </summary>
public static class MeshPeerValidation
{
    /// <summary>The peer's SPIFFE id when its certificate is a valid workload certificate of this mesh; null otherwise.</summary>
    /// <param name="sentChain">The chain SslStream built from what the peer sent; its extra certificates are used as intermediates.</param>
    /// <param name="usage">The extended key usage the peer's certificate must allow (client or server authentication).</param>
    public static string? VerifiedSpiffeId(X509Certificate2 presented, X509Chain? sentChain, IWorkloadIdentity identity, DateTimeOffset now, string usage)
    {
        if (SpiffeIdOf(presented) is not { } spiffeId) return null;
        if (!spiffeId.StartsWith(TrustDomainPrefix(identity.SpiffeId), StringComparison.Ordinal)) return null;
        if (now < presented.NotBefore || now > presented.NotAfter) return null;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(identity.TrustBundle);
        chain.ChainPolicy.ExtraStore.AddRange(identity.Chain);
        if (sentChain is not null) chain.ChainPolicy.ExtraStore.AddRange(sentChain.ChainPolicy.ExtraStore);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(usage));
        return chain.Build(presented) ? spiffeId : null;
    }

    /// <summary>The certificate's SPIFFE id: its one spiffe:// URI SAN; null when it has none or more than one (SPIFFE X.509-SVID allows exactly one).</summary>
    public static string? SpiffeIdOf(X509Certificate2 certificate)
    {
        string? found = null;
        foreach (var extension in certificate.Extensions)
        {
            if (extension is not X509SubjectAlternativeNameExtension san) continue;
            foreach (var uri in AccessRuleEvaluator.SanUris(san))
            {
                if (!uri.StartsWith("spiffe://", StringComparison.Ordinal)) continue;
                if (found is not null) return null;
                found = uri;
            }
        }
        return found;
    }

    /// <summary>"spiffe://mesh.local/" of "spiffe://mesh.local/ns/default/sa/orders".</summary>
    private static string TrustDomainPrefix(string spiffeId)
    {
        var slash = spiffeId.IndexOf('/', "spiffe://".Length);
        return slash < 0 ? spiffeId + "/" : spiffeId[..(slash + 1)];
    }
}
