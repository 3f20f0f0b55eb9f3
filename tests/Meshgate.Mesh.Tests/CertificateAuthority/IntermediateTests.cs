using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Meshgate.Mesh.CertificateAuthority;
using Meshgate.Mesh.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Mesh.Tests.CertificateAuthority;

/// <summary>The CA signing with an intermediate the user's own CA issued: the bundle holds the user's root, not one of ours.</summary>
public sealed class IntermediateTests : IDisposable
{
    private readonly ScratchDirectory _files = new();

    public void Dispose() => _files.Dispose();

    private static X509Certificate2 UserRoot(out RSA key)
    {
        key = RSA.Create(3072);
        var request = new CertificateRequest("CN=Example Corp Root", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
    }

    private static X509Certificate2 Intermediate(X509Certificate2 root, RSA rootKey, ECDsa key, bool isCa = true)
    {
        var request = new CertificateRequest("CN=Example Corp Mesh Intermediate", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(isCa, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        // An EC intermediate under an RSA root, as real corporate CAs often are: the CA must cope with mixed algorithms.
        return request.Create(root.SubjectName, X509SignatureGenerator.CreateForRSA(rootKey, RSASignaturePadding.Pkcs1), DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddYears(1), [1, 2, 3, 4]);
    }

    private CertificateAuthorityOptions Write(string certificatePem, string keyPem, string? bundlePem)
    {
        var options = new CertificateAuthorityOptions
        {
            TrustDomain = "corp.example",
            IntermediateCertificateFile = Path.Combine(_files.Path, "intermediate.crt"),
            IntermediateKeyFile = Path.Combine(_files.Path, "intermediate.key"),
        };
        File.WriteAllText(options.IntermediateCertificateFile, certificatePem);
        File.WriteAllText(options.IntermediateKeyFile, keyPem);
        if (bundlePem is not null)
        {
            options.TrustBundleFile = Path.Combine(_files.Path, "root.crt");
            File.WriteAllText(options.TrustBundleFile, bundlePem);
        }
        options.Tokens.Add(new BootstrapToken("billing", "invoices", BootstrapToken.Hash("t")));
        return options;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Sign_WithSuppliedIntermediate_ChainsToUsersRoot(bool rootInSeparateFile)
    {
        var root = UserRoot(out var rootKey);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediate = Intermediate(root, rootKey, key);
        var options = rootInSeparateFile
            ? Write(intermediate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), root.ExportCertificatePem())
            : Write(intermediate.ExportCertificatePem() + "\n" + root.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), null);
        await using var server = await CaServer.StartAsync(options);

        var csr = new CertificateRequest("CN=x", ECDsa.Create(ECCurve.NamedCurves.nistP256), HashAlgorithmName.SHA256).CreateSigningRequest();
        var response = await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(csr), BootstrapToken = "t" });

        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPem(response.TrustBundlePem);
        Assert.Equal([root.Thumbprint], bundle.Select(c => c.Thumbprint));
        var chainCerts = new X509Certificate2Collection();
        chainCerts.ImportFromPem(response.ChainPem);
        Assert.Equal([intermediate.Thumbprint], chainCerts.Select(c => c.Thumbprint));
        var leaf = X509Certificate2.CreateFromPem(response.CertificatePem);
        Assert.Equal(intermediate.Subject, leaf.Issuer);
        Assert.Equal("spiffe://corp.example/ns/billing/sa/invoices", response.SpiffeId);

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(bundle);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.False(chain.Build(leaf)); // without the intermediate the leaf does not reach the root
        chain.ChainPolicy.ExtraStore.AddRange(chainCerts);
        Assert.True(chain.Build(leaf), string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.DoesNotContain("PRIVATE KEY", response.ToString());
        Assert.Throws<InvalidOperationException>(() => server.Authority.RotateRoot());
        rootKey.Dispose();
    }

    [Fact]
    public void Start_KeyOfAnotherCertificate_FailsWithClearMessage()
    {
        var root = UserRoot(out var rootKey);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var options = Write(Intermediate(root, rootKey, key).ExportCertificatePem(), otherKey.ExportPkcs8PrivateKeyPem(), root.ExportCertificatePem());

        var error = Assert.Throws<InvalidOperationException>(() => new MeshCertificateAuthority(options, TimeProvider.System, NullLogger<MeshCertificateAuthority>.Instance));
        Assert.Contains("is not the key of the first certificate in", error.Message);
    }

    [Fact]
    public void Start_NotACaCertificate_FailsWithClearMessage()
    {
        var root = UserRoot(out var rootKey);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var options = Write(Intermediate(root, rootKey, key, isCa: false).ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), root.ExportCertificatePem());

        var error = Assert.Throws<InvalidOperationException>(() => new MeshCertificateAuthority(options, TimeProvider.System, NullLogger<MeshCertificateAuthority>.Instance));
        Assert.Contains("is not a CA certificate", error.Message);
    }

    [Fact]
    public void Start_IntermediateNotSignedByBundleRoot_FailsWithClearMessage()
    {
        var root = UserRoot(out var rootKey);
        var stranger = UserRoot(out _);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var options = Write(Intermediate(root, rootKey, key).ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), stranger.ExportCertificatePem());

        var error = Assert.Throws<InvalidOperationException>(() => new MeshCertificateAuthority(options, TimeProvider.System, NullLogger<MeshCertificateAuthority>.Instance));
        Assert.Contains("does not chain to the trust bundle", error.Message);
    }

    [Fact]
    public void Start_NoRootAnywhere_FailsWithClearMessage()
    {
        var root = UserRoot(out var rootKey);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var options = Write(Intermediate(root, rootKey, key).ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), null);

        var error = Assert.Throws<InvalidOperationException>(() => new MeshCertificateAuthority(options, TimeProvider.System, NullLogger<MeshCertificateAuthority>.Instance));
        Assert.Contains("no root for the intermediate", error.Message);
    }
}
