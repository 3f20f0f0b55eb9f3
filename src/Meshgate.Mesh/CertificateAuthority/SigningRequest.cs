using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>Reads a PKCS#10 CSR and checks it before anything is signed: well formed, an accepted key, a signature that verifies.</summary>
internal static class SigningRequest
{
    private const string EcPublicKeyOid = "1.2.840.10045.2.1";
    private const string RsaOid = "1.2.840.113549.1.1.1";
    internal const int MinRsaKeyBits = 2048;

    /// <summary>The CSR's public key; throws <see cref="CsrRejectedException"/> with the reason when it is not acceptable.</summary>
    public static PublicKey ReadPublicKey(ReadOnlySpan<byte> csr)
    {
        if (csr.IsEmpty) throw new CsrRejectedException("the CSR is empty: send a PKCS#10 certificate signing request (DER or PEM)");
        // The key is checked before the signature so that a weak or unknown key gets that reason, not a vague signature failure.
        var unverified = Load(csr, CertificateRequestLoadOptions.SkipSignatureValidation)
            ?? throw new CsrRejectedException("the CSR is malformed: it is not a PKCS#10 certificate signing request (DER, or PEM with 'BEGIN CERTIFICATE REQUEST')");
        CheckKey(unverified.PublicKey);
        try
        {
            Load(csr, CertificateRequestLoadOptions.Default);
        }
        catch (CryptographicException)
        {
            throw new CsrRejectedException("the CSR's signature does not verify: it must be signed with the private key of the public key it carries");
        }
        return unverified.PublicKey;
    }

    private static CertificateRequest? Load(ReadOnlySpan<byte> csr, CertificateRequestLoadOptions options)
    {
        var isPem = csr.TrimStart(" \t\r\n"u8).StartsWith("-----BEGIN"u8);
        try
        {
            return isPem
                ? CertificateRequest.LoadSigningRequestPem(Encoding.ASCII.GetString(csr), HashAlgorithmName.SHA256, options)
                : CertificateRequest.LoadSigningRequest(csr, HashAlgorithmName.SHA256, out _, options);
        }
        catch (CryptographicException) when (options.HasFlag(CertificateRequestLoadOptions.SkipSignatureValidation))
        {
            return null;
        }
    }

    private static void CheckKey(PublicKey key)
    {
        switch (key.Oid.Value)
        {
            case EcPublicKeyOid:
                using (var ec = key.GetECDsaPublicKey())
                {
                    var curve = ec?.ExportParameters(false).Curve.Oid;
                    if (curve?.Value is not ("1.2.840.10045.3.1.7" or "1.3.132.0.34" or "1.3.132.0.35"))
                        throw new CsrRejectedException($"the CSR's EC curve {curve?.FriendlyName ?? curve?.Value ?? "(explicit parameters)"} is not accepted: use P-256, P-384 or P-521");
                }
                break;
            case RsaOid:
                using (var rsa = key.GetRSAPublicKey())
                {
                    if (rsa is null || rsa.KeySize < MinRsaKeyBits)
                        throw new CsrRejectedException($"the CSR's RSA key has {rsa?.KeySize ?? 0} bits: at least {MinRsaKeyBits} are required");
                }
                break;
            default:
                throw new CsrRejectedException($"the CSR's key algorithm {key.Oid.FriendlyName ?? key.Oid.Value} is not supported: use ECDSA (P-256, P-384, P-521) or RSA of {MinRsaKeyBits} bits or more");
        }
    }
}
