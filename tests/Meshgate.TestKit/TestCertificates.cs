using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Meshgate.TestKit;

/// <summary>A throwaway CA and the certificates it signs, made in the test and written as PEM files.</summary>
public sealed class TestCertificates : IDisposable
{
    private readonly RSA _caKey = RSA.Create(2048);

    public TestCertificates(string directory, string caName = "Meshgate Test CA")
    {
        Directory = directory;
        var request = new CertificateRequest($"CN={caName}", _caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CaPath = Path.Combine(directory, $"{Sanitize(caName)}.pem");
        File.WriteAllText(CaPath, Ca.ExportCertificatePem());
    }

    public string Directory { get; }
    public X509Certificate2 Ca { get; }
    public string CaPath { get; }

    /// <summary>A leaf for a server (DNS names and 127.0.0.1 in its SAN) or a client; returns the certificate with its key and the PEM paths.</summary>
    /// <param name="loopback">For a server: also valid for localhost and 127.0.0.1. False makes a certificate valid for <paramref name="name"/> only.</param>
    public (X509Certificate2 Certificate, string CertPath, string KeyPath) Issue(string name, bool server = true, DateTimeOffset? notAfter = null, bool loopback = true)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        if (server && loopback)
        {
            san.AddDnsName("localhost");
            san.AddIpAddress(IPAddress.Loopback);
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        var serial = RandomNumberGenerator.GetBytes(16);
        using var issued = request.Create(Ca, DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(7), serial);
        var withKey = issued.CopyWithPrivateKey(key);
        var certPath = Path.Combine(Directory, $"{Sanitize(name)}.crt");
        var keyPath = Path.Combine(Directory, $"{Sanitize(name)}.key");
        File.WriteAllText(certPath, withKey.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        // Round-trip through PKCS#12 so SslStream on Linux can use the key.
        var usable = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        return (usable, certPath, keyPath);
    }

    /// <summary>
    /// Server certificate check for a client that trusts this CA (and nothing else): the chain must
    /// end in <see cref="Ca"/> and the name must match. Fits RemoteCertificateValidationCallback.
    /// </summary>
    public bool ValidatesServer(X509Certificate? certificate, SslPolicyErrors errors) =>
        certificate is not null
        && (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) == 0
        && Issued(certificate);

    /// <summary>True when <paramref name="certificate"/> chains to <see cref="Ca"/>; for checking client certificates.</summary>
    public bool Issued(X509Certificate certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    /// <summary>An HTTP client that trusts this CA only.</summary>
    public HttpClient TrustingClient(Uri baseAddress) => new(new SocketsHttpHandler
    {
        SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, errors) => ValidatesServer(certificate, errors) },
    }) { BaseAddress = baseAddress };

    private static string Sanitize(string name) => new(name.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());

    public void Dispose()
    {
        _caKey.Dispose();
        Ca.Dispose();
    }
}
