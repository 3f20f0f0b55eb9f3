using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Configuration;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Tls;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace Meshgate.Proxy.Upstream;

/// <summary>
/// The TLS client settings of one cluster, the one place both forwarders take them from: YARP's client
/// (<see cref="UpstreamHttpClientFactory"/>, into SocketsHttpHandler.SslOptions) and the direct HTTP/1.1 path (into the
/// SslClientAuthenticationOptions of each connection's SslStream). So the trust checks, the client certificate and the
/// log line of a refusal cannot differ between them. What the host name check and SNI use is the handshake's target
/// host, which each forwarder sets the same way (the host of the Host header the request carries).
/// </summary>
internal sealed partial class UpstreamTlsPolicy
{
    private UpstreamTlsPolicy(RemoteCertificateValidationCallback validation, LocalCertificateSelectionCallback? clientCertificate, X509Certificate2? staticClientCertificate)
    {
        Validation = validation;
        ClientCertificateSelection = clientCertificate;
        StaticClientCertificate = staticClientCertificate;
    }

    /// <summary>Decides on the upstream's certificate; logs why when it refuses.</summary>
    public RemoteCertificateValidationCallback Validation { get; }

    /// <summary>The certificate to present; null: none.</summary>
    public LocalCertificateSelectionCallback? ClientCertificateSelection { get; }

    private X509Certificate2? StaticClientCertificate { get; }

    /// <summary>Puts this cluster's checks and client certificate on a handshake's options (ALPN and target host are the caller's).</summary>
    public void ApplyTo(SslClientAuthenticationOptions options)
    {
        options.RemoteCertificateValidationCallback = Validation;
        if (StaticClientCertificate is { } certificate) options.ClientCertificates = [certificate];
        if (ClientCertificateSelection is { } selection) options.LocalCertificateSelectionCallback = selection;
    }

    /// <summary>The name a handshake was made for (the handshake's target host), for the refusal's log line.</summary>
    private static string? TargetOf(object sender) => (sender as SslStream)?.TargetHostName;

    public static UpstreamTlsPolicy Create(ClusterPolicy cluster, Mesh.IWorkloadIdentity? identity, TimeProvider time, ILogger logger)
    {
        var clusterId = cluster.ClusterId;
        if (cluster.Mesh is { } mesh)
        {
            var (validation, selection) = Mesh.Discovery.MeshUpstreamTls.Callbacks(mesh, clusterId, identity, time, logger);
            return new UpstreamTlsPolicy(validation, selection, null);
        }
        LocalCertificateSelectionCallback? clientCertificate = null;
        if (cluster.ClientCertificate is { } certificate) clientCertificate = (_, _, _, _, _) => certificate;
        // tls.insecureSkipVerify: any server certificate, but still the client certificate.
        if (cluster.InsecureSkipVerify) return new UpstreamTlsPolicy(static (_, _, _, _) => true, clientCertificate, cluster.ClientCertificate);
        if (cluster.TrustedCas is { } cas)
        {
            return new UpstreamTlsPolicy((sender, presented, _, errors) =>
            {
                if (TrustedBy(cas, presented, errors, time.GetUtcNow()) is not { } reason) return true;
                LogRefused(logger, TargetOf(sender), clusterId, reason);
                return false;
            }, clientCertificate, cluster.ClientCertificate);
        }
        // The system trust store: the platform's verdict, with the reason in the log when it refuses.
        return new UpstreamTlsPolicy((sender, _, _, errors) =>
        {
            if (errors == SslPolicyErrors.None) return true;
            LogRefused(logger, TargetOf(sender), clusterId, $"{errors} (system trust store)");
            return false;
        }, clientCertificate, cluster.ClientCertificate);
    }

    /// <summary>
    /// Null when the chain ends in one of the bundle's CAs and the name matches, else why not: a private CA replaces the
    /// system store, it does not switch checks off.
    /// </summary>
    internal static string? TrustedBy(X509Certificate2Collection cas, X509Certificate? certificate, SslPolicyErrors errors, DateTimeOffset now)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0) return "it presented no certificate";
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return "its certificate is not for the host name (tls.sni or the endpoint's host)";
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return CertificateTrust.ChainsTo(leaf, cas, now) ? null : $"its certificate ({leaf.Subject}) does not chain to tls.ca or is expired";
    }

    [LoggerMessage(EventId = Common.EventIds.Http1Forwarder + 50, Level = LogLevel.Warning, Message = "Upstream {Host} of cluster {ClusterId} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string? host, string clusterId, string reason);
}

/// <summary>
/// The clusters' TLS policies, built once per cluster and kept while the settings that make it
/// (<see cref="ClusterPolicy.TlsFingerprint"/>) stay the same: a config reload that does not touch a cluster's TLS keeps
/// its policy, and so the direct path's pooled connections, which are keyed by it. After each config swap
/// <see cref="Retain"/> drops the policies no cluster of the new snapshot has (a changed fingerprint, a removed cluster),
/// so reloads do not pile them up; the connections made with a dropped one are closed by the direct path's pool.
/// </summary>
internal sealed class UpstreamTlsPolicies(TimeProvider time, ILogger<UpstreamTlsPolicy> logger, Mesh.IWorkloadIdentity? identity = null)
{
    private readonly ConcurrentDictionary<string, UpstreamTlsPolicy> _policies = new(StringComparer.Ordinal);

    /// <summary>The policy of the cluster <paramref name="policy"/> belongs to.</summary>
    public UpstreamTlsPolicy For(ClusterPolicy policy)
    {
        var key = KeyOf(policy);
        return _policies.TryGetValue(key, out var existing) ? existing : _policies.GetOrAdd(key, _ => UpstreamTlsPolicy.Create(policy, identity, time, logger));
    }

    /// <summary>Policies kept (for tests and the pool's pruning).</summary>
    public int Count => _policies.Count;

    /// <summary>The policies kept now: those of the last retained snapshot's clusters, and any made since.</summary>
    public IReadOnlySet<UpstreamTlsPolicy> Current() => new HashSet<UpstreamTlsPolicy>(_policies.Values, ReferenceEqualityComparer.Instance);

    /// <summary>Drops the policies of clusters <paramref name="snapshot"/> does not have with the same TLS settings.</summary>
    public void Retain(ConfigSnapshot snapshot)
    {
        var live = snapshot.ClusterPolicies.Values.Select(KeyOf).ToHashSet(StringComparer.Ordinal);
        foreach (var key in _policies.Keys)
        {
            if (!live.Contains(key)) _policies.TryRemove(key, out _);
        }
    }

    private static string KeyOf(ClusterPolicy policy) => policy.ClusterId + "|" + policy.TlsFingerprint;
}
