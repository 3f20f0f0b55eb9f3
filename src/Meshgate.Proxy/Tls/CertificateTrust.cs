using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Meshgate.Proxy.Tls;

/// <summary>
/// Trust in a private CA bundle, the same way for client certificates at the listener and upstream
/// server certificates: the chain must end in one of the bundle's CAs (the system store is not
/// consulted), at the given time. Revocation is not checked: the edge has no CRL source by default.
/// </summary>
public static class CertificateTrust
{
    public const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <param name="usage">An extended key usage the certificate must allow, when it lists any.</param>
    public static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection cas, DateTimeOffset at, string? usage = null)
    {
        if (at < certificate.NotBefore || at > certificate.NotAfter) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(cas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        if (usage is not null) chain.ChainPolicy.ApplicationPolicy.Add(new Oid(usage));
        return chain.Build(certificate);
    }
}
