using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Meshgate.Mesh.CertificateAuthority;
using Meshgate.Mesh.V1;
using Meshgate.TestKit;

namespace Meshgate.Mesh.Tests.CertificateAuthority;

public sealed class CertificateAuthorityServiceTests : IDisposable
{
    private const string OrdersToken = "orders-bootstrap-token";
    private const string PaymentsToken = "payments-bootstrap-token";
    private readonly ScratchDirectory _state = new();
    private readonly ShiftedClock _clock = new();

    public void Dispose() => _state.Dispose();

    private CertificateAuthorityOptions Options()
    {
        var options = new CertificateAuthorityOptions { TrustDomain = "mesh.test", StateDirectory = _state.Path };
        options.Tokens.Add(new BootstrapToken("shop", "orders", BootstrapToken.Hash(OrdersToken)));
        options.Tokens.Add(new BootstrapToken("shop", "payments", BootstrapToken.Hash(PaymentsToken)) { DnsNames = ["payments.shop.svc"] });
        return options;
    }

    private static byte[] EcCsr(string subject = "CN=whatever") =>
        new CertificateRequest(subject, ECDsa.Create(ECCurve.NamedCurves.nistP256), HashAlgorithmName.SHA256).CreateSigningRequest();

    private static X509Certificate2Collection Bundle(string pem)
    {
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPem(pem);
        return bundle;
    }

    private static bool Validates(X509Certificate2 leaf, string chainPem, string bundlePem, DateTimeOffset at)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Bundle(bundlePem));
        if (chainPem.Length > 0) chain.ChainPolicy.ExtraStore.AddRange(Bundle(chainPem));
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        return chain.Build(leaf);
    }

    private static string[] UriSans(X509Certificate2 leaf) =>
        [.. leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames().Select(n => "dns:" + n)
            .Concat(UriNames(leaf))];

    private static IEnumerable<string> UriNames(X509Certificate2 leaf)
    {
        // The framework enumerates DNS names and IPs only; URIs are read from the extension's ASN.1.
        var reader = new System.Formats.Asn1.AsnReader(leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().RawData, System.Formats.Asn1.AsnEncodingRules.DER);
        var names = reader.ReadSequence();
        var uriTag = new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 6);
        while (names.HasData)
        {
            var tag = names.PeekTag();
            if (tag == uriTag) yield return "uri:" + names.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.IA5String, uriTag);
            else names.ReadEncodedValue();
        }
    }

    [Fact]
    public async Task Sign_ValidTokenAndCsr_LeafWithSpiffeIdValidatesAgainstBundle()
    {
        await using var server = await CaServer.StartAsync(Options(), _clock);
        var response = await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(EcCsr("CN=payments, O=evil")), BootstrapToken = OrdersToken });

        var leaf = X509Certificate2.CreateFromPem(response.CertificatePem);
        Assert.Equal("spiffe://mesh.test/ns/shop/sa/orders", response.SpiffeId);
        Assert.Equal(["uri:spiffe://mesh.test/ns/shop/sa/orders"], UriSans(leaf));
        Assert.DoesNotContain("payments", leaf.Subject);
        Assert.True(Validates(leaf, response.ChainPem, response.TrustBundlePem, _clock.GetUtcNow()));
        var bundle = await server.Client.GetTrustBundleAsync(new GetTrustBundleRequest());
        Assert.Equal(response.TrustBundlePem, bundle.TrustBundlePem);
        Assert.Equal("mesh.test", bundle.TrustDomain);
        Assert.Single(Bundle(bundle.TrustBundlePem));
    }

    [Fact]
    public async Task Sign_Leaf_HasLifetimeUsagesSerialAndBackdatedNotBefore()
    {
        var now = new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
        _clock.Set(now);
        var options = Options();
        options.LeafLifetime = TimeSpan.FromHours(6);
        await using var server = await CaServer.StartAsync(options, _clock);
        var first = X509Certificate2.CreateFromPem((await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(EcCsr()), BootstrapToken = OrdersToken })).CertificatePem);
        var second = X509Certificate2.CreateFromPem((await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(EcCsr()), BootstrapToken = OrdersToken })).CertificatePem);

        Assert.InRange(first.NotAfter.ToUniversalTime() - now.UtcDateTime, TimeSpan.FromHours(6) - TimeSpan.FromSeconds(5), TimeSpan.FromHours(6) + TimeSpan.FromSeconds(5));
        Assert.InRange(now.UtcDateTime - first.NotBefore.ToUniversalTime(), TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(6));
        var eku = first.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value).Order();
        Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], eku);
        var usage = first.Extensions.OfType<X509KeyUsageExtension>().Single();
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, usage.KeyUsages);
        Assert.True(usage.Critical);
        Assert.False(first.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.NotEqual(first.SerialNumber, second.SerialNumber);
        Assert.Equal(32, first.SerialNumber.Length); // 16 random bytes
    }

    [Fact]
    public async Task Sign_TokenWithDnsNames_AddsOnlyThoseNames()
    {
        await using var server = await CaServer.StartAsync(Options(), _clock);
        var csr = new CertificateRequest("CN=x", ECDsa.Create(ECCurve.NamedCurves.nistP256), HashAlgorithmName.SHA256);
        var requested = new SubjectAlternativeNameBuilder();
        requested.AddDnsName("orders.shop.svc");
        csr.CertificateExtensions.Add(requested.Build());

        var response = await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(csr.CreateSigningRequest()), BootstrapToken = PaymentsToken });

        var leaf = X509Certificate2.CreateFromPem(response.CertificatePem);
        Assert.Equal(["dns:payments.shop.svc", "uri:spiffe://mesh.test/ns/shop/sa/payments"], UriSans(leaf));
    }

    [Fact]
    public async Task Sign_OneServicesToken_NeverGetsAnotherServicesIdentity()
    {
        await using var server = await CaServer.StartAsync(Options(), _clock);
        var csr = new CertificateRequest("CN=payments", ECDsa.Create(ECCurve.NamedCurves.nistP256), HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri("spiffe://mesh.test/ns/shop/sa/payments"));
        csr.CertificateExtensions.Add(san.Build());

        var response = await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(csr.CreateSigningRequest()), BootstrapToken = OrdersToken });

        Assert.Equal("spiffe://mesh.test/ns/shop/sa/orders", response.SpiffeId);
        Assert.Equal(["uri:spiffe://mesh.test/ns/shop/sa/orders"], UriSans(X509Certificate2.CreateFromPem(response.CertificatePem)));
    }

    [Theory]
    [InlineData("", "a bootstrap token is required to get a certificate")]
    [InlineData("not-a-token", "the bootstrap token is not valid")]
    [InlineData(OrdersToken + " ", "the bootstrap token is not valid")]
    public async Task Sign_MissingOrWrongToken_PermissionDenied(string token, string message)
    {
        await using var server = await CaServer.StartAsync(Options(), _clock);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(EcCsr()), BootstrapToken = token }));
        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Equal(message, error.Status.Detail);
    }

    public static TheoryData<string, byte[], string> BadCsrs()
    {
        var good = EcCsr();
        var badSignature = (byte[])good.Clone();
        badSignature[^3] ^= 0x55; // inside the ECDSA signature's last INTEGER
        var data = new TheoryData<string, byte[], string>
        {
            { "empty", [], "the CSR is empty" },
            { "garbage", Encoding.ASCII.GetBytes("hello, I am a certificate"), "the CSR is malformed" },
            { "truncated", good[..(good.Length / 2)], "the CSR is malformed" },
            { "bad signature", badSignature, "the CSR's signature does not verify" },
            { "rsa 1024", new CertificateRequest("CN=x", RSA.Create(1024), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest(), "the CSR's RSA key has 1024 bits: at least 2048 are required" },
            { "ec p-256k1", new CertificateRequest("CN=x", ECDsa.Create(ECCurve.CreateFromFriendlyName("secP256k1")), HashAlgorithmName.SHA256).CreateSigningRequest(), "the CSR's EC curve" },
        };
        return data;
    }

    [Theory]
    [MemberData(nameof(BadCsrs))]
    public async Task Sign_BadCsr_InvalidArgumentWithReason(string name, byte[] csr, string message)
    {
        await using var server = await CaServer.StartAsync(Options(), _clock);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(csr), BootstrapToken = OrdersToken }));
        Assert.True(error.StatusCode == StatusCode.InvalidArgument, name);
        Assert.StartsWith(message, error.Status.Detail);
    }

    [Fact]
    public async Task Sign_PemCsrAndRsa2048_Accepted()
    {
        await using var server = await CaServer.StartAsync(Options(), _clock);
        var pem = new CertificateRequest("CN=x", RSA.Create(2048), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequestPem();
        var response = await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFromUtf8(pem), BootstrapToken = OrdersToken });
        Assert.True(Validates(X509Certificate2.CreateFromPem(response.CertificatePem), response.ChainPem, response.TrustBundlePem, _clock.GetUtcNow()));
    }

    [Fact]
    public async Task Root_MadeOnFirstStart_KeyFileIs0600_AndReusedOnNextStart()
    {
        string firstBundle;
        await using (var server = await CaServer.StartAsync(Options(), _clock))
        {
            firstBundle = (await server.Client.GetTrustBundleAsync(new GetTrustBundleRequest())).TrustBundlePem;
        }
        var key = Assert.Single(Directory.GetFiles(Path.Combine(_state.Path, "roots"), "*.key"));
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        var root = X509Certificate2.CreateFromPem(firstBundle);
        Assert.Equal("1.2.840.10045.3.1.7", root.GetECDsaPublicKey()!.ExportParameters(false).Curve.Oid.Value); // P-256
        Assert.True(root.NotAfter.ToUniversalTime() > DateTime.UtcNow.AddYears(9));

        await using var again = await CaServer.StartAsync(Options(), _clock);
        Assert.Equal(firstBundle, (await again.Client.GetTrustBundleAsync(new GetTrustBundleRequest())).TrustBundlePem);
        Assert.Single(Directory.GetFiles(Path.Combine(_state.Path, "roots"), "*.key"));
    }

    [Fact]
    public async Task Responses_NeverContainTheRootKey()
    {
        await using var server = await CaServer.StartAsync(Options(), _clock);
        var signed = await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(EcCsr()), BootstrapToken = OrdersToken });
        var bundle = await server.Client.GetTrustBundleAsync(new GetTrustBundleRequest());

        using var rootKey = ECDsa.Create();
        rootKey.ImportFromPem(File.ReadAllText(Directory.GetFiles(Path.Combine(_state.Path, "roots"), "*.key").Single()));
        var privateScalar = Convert.ToBase64String(rootKey.ExportParameters(true).D!);
        var everything = signed.ToString() + bundle.ToString() + Encoding.Latin1.GetString(signed.ToByteArray()) + Encoding.Latin1.GetString(bundle.ToByteArray());
        Assert.DoesNotContain("PRIVATE KEY", everything);
        Assert.DoesNotContain(privateScalar, everything);
        Assert.DoesNotContain(Encoding.Latin1.GetString(rootKey.ExportParameters(true).D!), everything);
        Assert.DoesNotContain(Convert.ToBase64String(rootKey.ExportPkcs8PrivateKey()), everything);
    }

    [Fact]
    public async Task RotateRoot_BothRootsTrustedDuringOverlap_OldRootDroppedAfter()
    {
        var start = new DateTimeOffset(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);
        _clock.Set(start);
        var options = Options();
        options.RotationOverlap = TimeSpan.FromHours(48);
        await using var server = await CaServer.StartAsync(options, _clock);
        var oldLeaf = await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(EcCsr()), BootstrapToken = OrdersToken });
        var oldRoot = X509Certificate2.CreateFromPem(oldLeaf.TrustBundlePem);

        _clock.Set(start.AddHours(1));
        var newRoot = server.Authority.RotateRoot();
        var newLeaf = await server.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(EcCsr()), BootstrapToken = OrdersToken });

        // During the overlap: both roots in the bundle; the new leaf is signed by the new root; the old leaf still validates.
        var during = (await server.Client.GetTrustBundleAsync(new GetTrustBundleRequest())).TrustBundlePem;
        Assert.Equal(new[] { oldRoot.Thumbprint, newRoot.Thumbprint }.Order(), Bundle(during).Select(c => c.Thumbprint).Order());
        Assert.Equal(newRoot.Subject, X509Certificate2.CreateFromPem(newLeaf.CertificatePem).Issuer);
        Assert.Equal(during, newLeaf.TrustBundlePem);
        Assert.True(Validates(X509Certificate2.CreateFromPem(oldLeaf.CertificatePem), "", during, start.AddHours(2)));
        Assert.True(Validates(X509Certificate2.CreateFromPem(newLeaf.CertificatePem), "", during, start.AddHours(2)));

        // After the overlap only the new root is trusted: a leaf of the old root no longer validates against the bundle.
        _clock.Set(start.AddHours(1 + 48).AddMinutes(1));
        var after = (await server.Client.GetTrustBundleAsync(new GetTrustBundleRequest())).TrustBundlePem;
        Assert.Equal([newRoot.Thumbprint], Bundle(after).Select(c => c.Thumbprint));
        Assert.False(Validates(X509Certificate2.CreateFromPem(oldLeaf.CertificatePem), "", after, start.AddHours(2)));
        Assert.True(Validates(X509Certificate2.CreateFromPem(newLeaf.CertificatePem), "", after, start.AddHours(2)));
    }

    [Fact]
    public async Task RotateRoot_Restart_KeepsNewestSignerAndOverlap()
    {
        var start = new DateTimeOffset(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);
        _clock.Set(start);
        X509Certificate2 newRoot;
        await using (var server = await CaServer.StartAsync(Options(), _clock))
        {
            _clock.Set(start.AddHours(1));
            newRoot = server.Authority.RotateRoot();
        }

        _clock.Set(start.AddHours(10));
        await using (var restarted = await CaServer.StartAsync(Options(), _clock))
        {
            Assert.Equal(2, Bundle((await restarted.Client.GetTrustBundleAsync(new GetTrustBundleRequest())).TrustBundlePem).Count);
            var leaf = await restarted.Client.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(EcCsr()), BootstrapToken = OrdersToken });
            Assert.Equal(newRoot.Subject, X509Certificate2.CreateFromPem(leaf.CertificatePem).Issuer);
        }

        _clock.Set(start.AddHours(50));
        await using var late = await CaServer.StartAsync(Options(), _clock);
        Assert.Equal([newRoot.Thumbprint], Bundle((await late.Client.GetTrustBundleAsync(new GetTrustBundleRequest())).TrustBundlePem).Select(c => c.Thumbprint));
    }
}
