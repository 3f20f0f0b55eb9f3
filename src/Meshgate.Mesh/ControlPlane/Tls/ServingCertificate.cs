using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Mesh.CertificateAuthority;
using Microsoft.Extensions.Logging;

namespace Meshgate.Mesh.ControlPlane.Tls;

/// <summary>
/// The certificate the control plane's gRPC listener presents, read on every TLS handshake. Issued by the control plane's
/// own CA, it is re-issued when two thirds of its life have passed or when the CA signs with another certificate (a root
/// rotation), at the next handshake or at once via <see cref="Renew"/>: open connections keep theirs. A user-supplied
/// certificate is loaded once and served as is.
/// </summary>
internal sealed partial class ServingCertificate
{
    private readonly ControlPlaneTlsOptions _options;
    private readonly Func<MeshCertificateAuthority?> _ca;
    private readonly TimeProvider _time;
    private readonly Lock _issuing = new();
    private volatile Entry? _current;

    /// <summary>One certificate with its handshake context; swapped whole.</summary>
    private sealed record Entry(X509Certificate2 Certificate, SslStreamCertificateContext Context, X509Certificate2? Signer, DateTimeOffset RenewAt);

    /// <param name="ca">The control plane's CA (resolved lazily: it is loaded when the host starts); null with a supplied certificate.</param>
    public ServingCertificate(ControlPlaneTlsOptions options, Func<MeshCertificateAuthority?> ca, TimeProvider time)
    {
        _options = options;
        _ca = ca;
        _time = time;
    }

    /// <summary>Set once the host is built (the listener is configured before it, but only handshakes log).</summary>
    public ILogger Logger { get; set; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>The certificate served now (issuing one first when none is current).</summary>
    public X509Certificate2 Certificate => Current().Certificate;

    public SslStreamCertificateContext Context => Current().Context;

    /// <summary>Issues a new certificate now (after a root rotation, so new connections see the new root at once).</summary>
    public void Renew()
    {
        if (_options.CertificateFile is not null) return;
        lock (_issuing) _current = Issue(_current);
    }

    private Entry Current()
    {
        var entry = _current;
        if (_options.CertificateFile is not null) return entry ?? (_current = LoadSupplied());
        if (entry is not null && _time.GetUtcNow() < entry.RenewAt && ReferenceEquals(entry.Signer, _ca()!.Signer)) return entry;
        lock (_issuing)
        {
            entry = _current;
            if (entry is null || _time.GetUtcNow() >= entry.RenewAt || !ReferenceEquals(entry.Signer, _ca()!.Signer)) _current = entry = Issue(entry);
            return entry;
        }
    }

    private Entry Issue(Entry? previous)
    {
        var ca = _ca() ?? throw new InvalidOperationException("the control plane's TLS listener needs its CA to issue a serving certificate, or a supplied certificate");
        var signer = ca.Signer;
        var (dns, ips) = _options.SplitSans();
        var issued = ca.IssueServingCertificate(_options.SystemNamespace, ControlPlaneTlsOptions.ServiceName, dns, ips);
        var now = _time.GetUtcNow();
        var notAfter = new DateTimeOffset(issued.Leaf.NotAfter.ToUniversalTime());
        var renewAt = now + (notAfter - now) * 2 / 3;
        var context = SslStreamCertificateContext.Create(issued.Leaf, new X509Certificate2Collection(issued.Chain.ToArray()), offline: true);
        if (previous is null) LogIssued(Logger, issued.SpiffeId, issued.Leaf.SerialNumber, string.Join(", ", _options.SubjectAlternativeNames), notAfter, renewAt);
        else LogRenewed(Logger, issued.Leaf.SerialNumber, previous.Certificate.SerialNumber, signer.Subject, notAfter);
        return new Entry(issued.Leaf, context, signer, renewAt);
    }

    private Entry LoadSupplied()
    {
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(_options.CertificateFile!);
        if (all.Count == 0) throw new InvalidOperationException($"--tls-cert: {_options.CertificateFile} holds no PEM certificate");
        X509Certificate2 leaf;
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(_options.CertificateFile!, _options.KeyFile);
            leaf = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null,
                OperatingSystem.IsMacOS() ? X509KeyStorageFlags.DefaultKeySet : X509KeyStorageFlags.EphemeralKeySet);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new InvalidOperationException($"--tls-key: {_options.KeyFile} is not the private key of the first certificate in {_options.CertificateFile}: {e.Message}", e);
        }
        var context = SslStreamCertificateContext.Create(leaf, new X509Certificate2Collection(all.Skip(1).ToArray()), offline: true);
        LogSupplied(Logger, leaf.Subject, leaf.Thumbprint, _options.CertificateFile!);
        return new Entry(leaf, context, null, DateTimeOffset.MaxValue);
    }

    [LoggerMessage(EventId = Common.EventIds.ControlPlaneTls + 0, Level = LogLevel.Information, Message = "Control plane TLS: serving certificate for {SpiffeId} issued by the mesh CA (serial {Serial}, names {Names}), expires {NotAfter:o}, renewal at {RenewAt:o}")]
    private static partial void LogIssued(ILogger logger, string spiffeId, string serial, string names, DateTimeOffset notAfter, DateTimeOffset renewAt);

    [LoggerMessage(EventId = Common.EventIds.ControlPlaneTls + 1, Level = LogLevel.Information, Message = "Control plane TLS: serving certificate renewed: serial {Serial} replaces {PreviousSerial}, signed by {Signer}, expires {NotAfter:o}")]
    private static partial void LogRenewed(ILogger logger, string serial, string previousSerial, string signer, DateTimeOffset notAfter);

    [LoggerMessage(EventId = Common.EventIds.ControlPlaneTls + 2, Level = LogLevel.Information, Message = "Control plane TLS: serving the supplied certificate {Subject} ({Thumbprint}) from {Path}")]
    private static partial void LogSupplied(ILogger logger, string subject, string thumbprint, string path);
}
