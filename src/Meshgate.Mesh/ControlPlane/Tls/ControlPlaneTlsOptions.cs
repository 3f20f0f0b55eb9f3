using System.Net;

namespace Meshgate.Mesh.ControlPlane.Tls;

/// <summary>
/// TLS on the control plane's gRPC listener. Either the user's certificate and key (<see cref="CertificateFile"/>,
/// <see cref="KeyFile"/>), or, with the certificate authority on, a serving certificate the control plane issues itself
/// from its own CA, with <see cref="SubjectAlternativeNames"/>, renewed before it expires and re-issued when the root rotates.
/// </summary>
public sealed record ControlPlaneTlsOptions
{
    /// <summary>PEM certificate (followed by its intermediates) to serve; null issues one from the control plane's own CA.</summary>
    public string? CertificateFile { get; init; }

    /// <summary>The private key of <see cref="CertificateFile"/> (PEM, PKCS#8 or PKCS#1).</summary>
    public string? KeyFile { get; init; }

    /// <summary>
    /// Host names and IP addresses clients reach the control plane at, put in the issued certificate's SANs (an entry that
    /// parses as an IP address becomes an IP SAN). Not used with <see cref="CertificateFile"/>.
    /// </summary>
    public IReadOnlyList<string> SubjectAlternativeNames { get; init; } = ["localhost", "127.0.0.1"];

    /// <summary>The namespace of the control plane's own SPIFFE id: spiffe://&lt;td&gt;/ns/&lt;SystemNamespace&gt;/sa/control-plane.</summary>
    public string SystemNamespace { get; init; } = "meshgate-system";

    /// <summary>The service name in the control plane's SPIFFE id.</summary>
    public const string ServiceName = "control-plane";

    /// <summary>The SANs split into DNS names and IP addresses.</summary>
    internal (string[] DnsNames, IPAddress[] IpAddresses) SplitSans()
    {
        var ips = SubjectAlternativeNames.Select(s => IPAddress.TryParse(s, out var ip) ? ip : null).OfType<IPAddress>().Distinct().ToArray();
        var dns = SubjectAlternativeNames.Where(s => !IPAddress.TryParse(s, out _)).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        return (dns, ips);
    }
}
