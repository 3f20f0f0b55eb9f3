using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>
/// Signs workload certificates with SPIFFE ids. Either it owns its roots (ECDSA P-256, made on first start and kept in
/// <see cref="CertificateAuthorityOptions.StateDirectory"/>, rotated with <see cref="RotateRoot"/>), or it signs with an
/// intermediate the user's own CA issued. Everything it signs with is an immutable <see cref="Authority"/> swapped whole.
/// </summary>
public sealed partial class MeshCertificateAuthority
{
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";

    private readonly CertificateAuthorityOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _rotation = new();
    private volatile Authority _authority;

    /// <summary>
    /// The signer, the intermediates above it, and every root with the time it stops being trusted
    /// (null: the newest root, trusted until it expires).
    /// </summary>
    private sealed record Authority(X509Certificate2 Signer, X509Certificate2[] Chain, (X509Certificate2 Root, DateTimeOffset? TrustedUntil)[] Roots);

    /// <summary>Loads the roots or the intermediate, making the first root when the state directory has none.</summary>
    public MeshCertificateAuthority(CertificateAuthorityOptions options, TimeProvider time, ILogger<MeshCertificateAuthority> logger)
    {
        var errors = options.Validate();
        if (errors.Count > 0) throw new InvalidOperationException("certificate authority: " + string.Join("; ", errors));
        _options = options;
        _time = time;
        _logger = logger;
        _authority = options.IntermediateCertificateFile is not null ? LoadIntermediate() : LoadOrCreateRoots();
    }

    /// <summary>The SPIFFE trust domain.</summary>
    public string TrustDomain => _options.TrustDomain;

    /// <summary>Whether the CA owns its roots (and so can rotate them), rather than signing with a supplied intermediate.</summary>
    public bool OwnsRoots => _options.IntermediateCertificateFile is null;

    /// <summary>Every root trusted now: during a rotation's overlap the old and the new one.</summary>
    public IReadOnlyList<X509Certificate2> TrustBundle()
    {
        var now = _time.GetUtcNow();
        return [.. _authority.Roots.Where(r => (r.TrustedUntil is null || r.TrustedUntil > now) && r.Root.NotAfter.ToUniversalTime() > now.UtcDateTime).Select(r => r.Root)];
    }

    /// <summary>
    /// Makes a new root and signs every leaf with it from now on. The old root stays in the trust bundle for
    /// <see cref="CertificateAuthorityOptions.RotationOverlap"/>, so leaves it signed keep validating until they expire.
    /// </summary>
    public X509Certificate2 RotateRoot()
    {
        if (!OwnsRoots) throw new InvalidOperationException("the CA signs with a supplied intermediate: rotate by replacing its files, not here");
        lock (_rotation)
        {
            var root = CreateRoot();
            var trustedUntil = _time.GetUtcNow() + _options.RotationOverlap;
            var roots = _authority.Roots.Select(r => (r.Root, r.TrustedUntil ?? trustedUntil)).Select(r => (r.Root, (DateTimeOffset?)r.Item2));
            _authority = new Authority(root, [], [.. roots, (root, null)]);
            LogRootRotated(root.Thumbprint, trustedUntil);
            return root;
        }
    }

    /// <summary>
    /// Signs a leaf for <paramref name="identity"/> with <paramref name="csr"/>'s public key. Only the key is taken from the CSR:
    /// the identity comes from the bootstrap token. Throws <see cref="CsrRejectedException"/> for an unusable CSR.
    /// </summary>
    internal IssuedCertificate Sign(ReadOnlySpan<byte> csr, BootstrapToken identity) =>
        Issue(SigningRequest.ReadPublicKey(csr), identity.Namespace, identity.Service, identity.DnsNames, [], _options.LeafLifetime);

    /// <summary>
    /// The control plane's own serving certificate: a fresh ECDSA P-256 key (kept in memory) and a leaf for
    /// <c>spiffe://&lt;td&gt;/ns/&lt;namespace&gt;/sa/&lt;service&gt;</c> with the DNS and IP SANs clients reach it at.
    /// The certificate returned carries its private key; the issuer's chain is in <see cref="IssuedCertificate.Chain"/>.
    /// </summary>
    public IssuedCertificate IssueServingCertificate(string @namespace, string service, IReadOnlyList<string> dnsNames, IReadOnlyList<System.Net.IPAddress> ipAddresses)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issued = Issue(new PublicKey(key), @namespace, service, dnsNames, ipAddresses, _options.LeafLifetime);
        using var leaf = issued.Leaf;
        using var withKey = leaf.CopyWithPrivateKey(key);
        // Through PKCS#12 in memory, so SslStream can use the key on every platform; never written to disk.
        var usable = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null,
            OperatingSystem.IsMacOS() ? X509KeyStorageFlags.DefaultKeySet : X509KeyStorageFlags.EphemeralKeySet);
        return issued with { Leaf = usable };
    }

    /// <summary>The certificate new leaves are signed with: it changes when the root is rotated.</summary>
    public X509Certificate2 Signer => _authority.Signer;

    private IssuedCertificate Issue(PublicKey publicKey, string @namespace, string service, IEnumerable<string> dnsNames, IEnumerable<System.Net.IPAddress> ipAddresses, TimeSpan lifetime)
    {
        var authority = _authority;
        var spiffeId = $"spiffe://{_options.TrustDomain}/ns/{@namespace}/sa/{service}";

        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName(@namespace);
        subject.AddCommonName(service);
        var request = new CertificateRequest(subject.Build(), publicKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        foreach (var name in dnsNames) san.AddDnsName(name);
        foreach (var address in ipAddresses) san.AddIpAddress(address);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ClientAuthOid), new Oid(ServerAuthOid)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (authority.Signer.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault() is { SubjectKeyIdentifierBytes: var issuerKeyId })
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(issuerKeyId.Span));

        var now = _time.GetUtcNow();
        var notBefore = now - _options.ClockSkew;
        // A leaf never outlives its issuer: past that it could not validate anyway.
        var issuerNotAfter = new DateTimeOffset(authority.Signer.NotAfter.ToUniversalTime());
        var notAfter = now + lifetime < issuerNotAfter ? now + lifetime : issuerNotAfter;
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F; // a positive INTEGER
        serial[0] |= 0x01; // and 16 bytes long, with no leading zero to strip

        using var generator = SignatureGenerator(authority.Signer);
        var leaf = request.Create(authority.Signer.SubjectName, generator, notBefore, notAfter, serial);
        LogLeafSigned(spiffeId, leaf.SerialNumber, notAfter);
        return new IssuedCertificate(leaf, authority.Chain, TrustBundle(), spiffeId);
    }

    private static DisposableGenerator SignatureGenerator(X509Certificate2 signer)
    {
        if (signer.GetECDsaPrivateKey() is { } ec) return new(X509SignatureGenerator.CreateForECDsa(ec), ec);
        if (signer.GetRSAPrivateKey() is { } rsa) return new(X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1), rsa);
        throw new InvalidOperationException($"the CA's signing certificate {signer.Subject} has no usable ECDSA or RSA private key");
    }

    private sealed class DisposableGenerator(X509SignatureGenerator generator, IDisposable key) : X509SignatureGenerator, IDisposable
    {
        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) => generator.GetSignatureAlgorithmIdentifier(hashAlgorithm);
        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) => generator.SignData(data, hashAlgorithm);
        protected override PublicKey BuildPublicKey() => generator.PublicKey;
        public void Dispose() => key.Dispose();
    }

    private string RootsDirectory => Path.Combine(_options.StateDirectory!, "roots");

    private Authority LoadOrCreateRoots()
    {
        if (!OperatingSystem.IsWindows()) Directory.CreateDirectory(RootsDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        else Directory.CreateDirectory(RootsDirectory);
        // File names are the creation time to the tick, so they order roots made within the same second too.
        var roots = Directory.GetFiles(RootsDirectory, "*.crt")
            .Where(crt => File.Exists(Path.ChangeExtension(crt, ".key")))
            .Order(StringComparer.Ordinal)
            .Select(crt => X509Certificate2.CreateFromPemFile(crt, Path.ChangeExtension(crt, ".key")))
            .ToList();
        if (roots.Count == 0)
        {
            var root = CreateRoot();
            return new Authority(root, [], [(root, null)]);
        }
        // An older root is trusted for the overlap after its successor was made (NotBefore is backdated by the clock skew).
        var entries = roots.Select((root, i) => (root, i == roots.Count - 1
            ? (DateTimeOffset?)null
            : new DateTimeOffset(roots[i + 1].NotBefore.ToUniversalTime()) + _options.ClockSkew + _options.RotationOverlap)).ToArray();
        LogRootsLoaded(roots.Count, RootsDirectory, roots[^1].Thumbprint);
        return new Authority(roots[^1], [], entries);
    }

    private X509Certificate2 CreateRoot()
    {
        var now = _time.GetUtcNow();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=Meshgate mesh root {now:yyyy-MM-dd'T'HH:mm:ss'Z'}, O=Meshgate, OU={_options.TrustDomain}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var root = request.CreateSelfSigned(now - _options.ClockSkew, now + _options.RootLifetime);

        // The key is written first, created 0600 (never readable by others, not even for a moment), then the certificate:
        // a .crt without its .key is ignored on the next start, so a crash in between loses nothing that was in use.
        var name = Path.Combine(RootsDirectory, now.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfffffff'Z'", System.Globalization.CultureInfo.InvariantCulture));
        WriteNew(name + ".key", key.ExportPkcs8PrivateKeyPem());
        WriteNew(name + ".crt", root.ExportCertificatePem());
        LogRootCreated(root.Thumbprint, name + ".crt");
        return root;
    }

    private static void WriteNew(string path, string content)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var writer = new StreamWriter(path, System.Text.Encoding.ASCII, options);
        writer.Write(content);
    }

    private Authority LoadIntermediate()
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(_options.IntermediateCertificateFile!);
        if (certificates.Count == 0) throw new InvalidOperationException($"certificate authority: {_options.IntermediateCertificateFile} holds no PEM certificate");
        X509Certificate2 signer;
        try
        {
            signer = X509Certificate2.CreateFromPem(certificates[0].ExportCertificatePem(), File.ReadAllText(_options.IntermediateKeyFile!));
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new InvalidOperationException($"certificate authority: the key in {_options.IntermediateKeyFile} is not the key of the first certificate in {_options.IntermediateCertificateFile}: {e.Message}", e);
        }
        if (signer.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
            throw new InvalidOperationException($"certificate authority: the first certificate in {_options.IntermediateCertificateFile} ({signer.Subject}) is not a CA certificate (basic constraints CA:TRUE)");

        var isSelfSigned = (X509Certificate2 c) => c.SubjectName.RawData.AsSpan().SequenceEqual(c.IssuerName.RawData);
        var chain = certificates.Skip(1).Where(c => !isSelfSigned(c)).Prepend(certificates[0]).ToArray();
        var roots = new X509Certificate2Collection();
        if (_options.TrustBundleFile is not null) roots.ImportFromPemFile(_options.TrustBundleFile);
        else roots.AddRange(certificates.Skip(1).Where(isSelfSigned).ToArray());
        if (roots.Count == 0)
            throw new InvalidOperationException($"certificate authority: no root for the intermediate: add the root to {_options.IntermediateCertificateFile} or pass a trust bundle file");

        // Fail at start, not at the first handshake, when the intermediate does not chain to the roots given.
        using var check = new X509Chain();
        check.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        check.ChainPolicy.CustomTrustStore.AddRange(roots);
        check.ChainPolicy.ExtraStore.AddRange(chain);
        check.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        check.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        if (!check.Build(signer))
            throw new InvalidOperationException($"certificate authority: the intermediate {signer.Subject} does not chain to the trust bundle: {string.Join(", ", check.ChainStatus.Select(s => s.StatusInformation.Trim()))}");

        LogIntermediateLoaded(signer.Subject, signer.Thumbprint, roots.Count);
        return new Authority(signer, chain, [.. roots.Select(r => (r, (DateTimeOffset?)null))]);
    }

    [LoggerMessage(EventId = Meshgate.Common.EventIds.CertificateAuthority + 0, Level = LogLevel.Information, Message = "Signed a certificate for {SpiffeId} (serial {Serial}), valid until {NotAfter:O}")]
    private partial void LogLeafSigned(string spiffeId, string serial, DateTimeOffset notAfter);

    [LoggerMessage(EventId = Meshgate.Common.EventIds.CertificateAuthority + 3, Level = LogLevel.Warning, Message = "Made a new mesh root {Thumbprint} at {Path}")]
    private partial void LogRootCreated(string thumbprint, string path);

    [LoggerMessage(EventId = Meshgate.Common.EventIds.CertificateAuthority + 4, Level = LogLevel.Warning, Message = "Rotated the mesh root: new leaves are signed by {Thumbprint}; older roots stay trusted until {TrustedUntil:O}")]
    private partial void LogRootRotated(string thumbprint, DateTimeOffset trustedUntil);

    [LoggerMessage(EventId = Meshgate.Common.EventIds.CertificateAuthority + 5, Level = LogLevel.Information, Message = "Loaded {Count} mesh root(s) from {Directory}; signing with {Thumbprint}")]
    private partial void LogRootsLoaded(int count, string directory, string thumbprint);

    [LoggerMessage(EventId = Meshgate.Common.EventIds.CertificateAuthority + 6, Level = LogLevel.Information, Message = "Signing with the supplied intermediate {Subject} ({Thumbprint}); trust bundle holds {Count} root(s)")]
    private partial void LogIntermediateLoaded(string subject, string thumbprint, int count);
}
