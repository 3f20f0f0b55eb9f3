using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Authorization;
using Meshgate.Proxy.Tls;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Mesh.Discovery;

/// <summary>
/// Mutual TLS toward a mesh cluster's instances. The gateway presents its workload certificate, read from the identity
/// at each handshake (a renewed one goes out on new connections), and accepts an instance only when its certificate
/// chains to the identity's trust bundle (read at each handshake too, for CA rotation) and its one URI SAN is exactly
/// the SPIFFE id of the cluster's service. Host names play no part: instances are addressed by IP, and the SPIFFE id is
/// the name that is checked.
/// </summary>
internal static partial class MeshUpstreamTls
{
    /// <summary>The handshake's checks and client certificate for a mesh cluster (both forwarders take them through <see cref="Upstream.UpstreamTlsPolicy"/>).</summary>
    public static (RemoteCertificateValidationCallback Validation, LocalCertificateSelectionCallback? ClientCertificate) Callbacks(MeshClusterPolicy mesh, string clusterId, IWorkloadIdentity? identity, TimeProvider time, ILogger logger)
    {
        if (identity is null)
        {
            // Fail closed: without an identity the gateway can neither prove who it is nor check who answers.
            return ((_, _, _, _) =>
            {
                LogNoIdentity(logger, clusterId, mesh.Service);
                return false;
            }, null);
        }
        // The expected id is worked out per handshake too: the trust domain comes with the first certificate, which a
        // sidecar's fixed-port cluster may be configured before.
        return ((sender, certificate, _, _) =>
            Verify(certificate, identity.TrustBundle, identity.SpiffeIdOf(mesh.Service, mesh.Namespace), time.GetUtcNow(), (sender as SslStream)?.TargetHostName, clusterId, logger),
            (_, _, _, _, _) => identity.Certificate);
    }

    /// <summary>Whether <paramref name="certificate"/> chains to <paramref name="bundle"/> and names exactly <paramref name="expected"/>.</summary>
    internal static bool Verify(X509Certificate? certificate, X509Certificate2Collection bundle, string expected, DateTimeOffset now, string? instance, string clusterId, ILogger logger)
    {
        if (certificate is null)
        {
            LogUntrusted(logger, instance, clusterId, expected, "it presented no certificate");
            return false;
        }
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (!CertificateTrust.ChainsTo(leaf, bundle, now, CertificateTrust.ServerAuthentication))
        {
            LogUntrusted(logger, instance, clusterId, expected, $"its certificate ({leaf.Subject}) does not chain to the mesh trust bundle or is expired");
            return false;
        }
        var uris = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(AccessRuleEvaluator.SanUris).ToList();
        if (uris.Count == 1 && string.Equals(uris[0], expected, StringComparison.Ordinal)) return true;
        LogWrongIdentity(logger, instance, clusterId, expected, uris.Count == 0 ? "none" : string.Join(", ", uris));
        return false;
    }

    [LoggerMessage(EventId = Common.EventIds.MeshDiscovery + 10, Level = LogLevel.Warning, Message = "Mesh instance {Instance} of cluster {ClusterId} refused: expected SPIFFE id {Expected}, presented {Presented}")]
    private static partial void LogWrongIdentity(ILogger logger, string? instance, string clusterId, string expected, string presented);

    [LoggerMessage(EventId = Common.EventIds.MeshDiscovery + 11, Level = LogLevel.Warning, Message = "Mesh instance {Instance} of cluster {ClusterId} refused (expected SPIFFE id {Expected}): {Reason}")]
    private static partial void LogUntrusted(ILogger logger, string? instance, string clusterId, string expected, string reason);

    [LoggerMessage(EventId = Common.EventIds.MeshDiscovery + 12, Level = LogLevel.Error, Message = "Cluster {ClusterId} (mesh service {Service}) cannot be reached: this process has no workload identity")]
    private static partial void LogNoIdentity(ILogger logger, string clusterId, string service);
}
