using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Tls;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Meshgate.Proxy.Upstream;

/// <summary>
/// Applies the cluster settings YARP's HttpClientConfig has no key for: connect timeout, a private
/// CA bundle and a client certificate, and mesh mTLS for discovery: mesh clusters. YARP calls this when a cluster's
/// client settings change.
/// </summary>
internal sealed class UpstreamHttpClientFactory(SnapshotAccessor snapshots, TimeProvider time, ILogger<UpstreamHttpClientFactory> logger, Mesh.IWorkloadIdentity? identity = null) : ForwarderHttpClientFactory
{
    /// <summary>The span handler goes below the hedging one, so each hedge is a span of its own.</summary>
    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler)
    {
        if (Observability.Tracing.TracingServiceCollectionExtensions.IsOn(snapshots)) handler = new Observability.Tracing.UpstreamSpanHandler(handler);
        return context.NewMetadata?.ContainsKey(Configuration.Compilation.MetadataKeys.Hedged) == true ? new Resilience.Hedging.HedgingHandler(handler, time) : handler;
    }

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        if (Observability.Tracing.TracingServiceCollectionExtensions.IsOn(snapshots)) Observability.Tracing.UpstreamSpanHandler.DisablePropagation(handler);
        if (!snapshots.Current.ClusterPolicies.TryGetValue(context.ClusterId, out var policy)) return;

        handler.ConnectTimeout = policy.ConnectTimeout;
        if (policy.Mesh is { } mesh)
        {
            Mesh.Discovery.MeshUpstreamTls.Configure(handler, mesh, context.ClusterId, identity, time, logger);
            return;
        }
        if (policy.ClientCertificate is { } clientCertificate)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }
        if (policy.TrustedCas is { } cas && context.NewConfig.DangerousAcceptAnyServerCertificate != true)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => TrustedBy(cas, certificate, errors);
        }
    }

    /// <summary>The chain must end in one of the bundle's CAs, and the name must still match: a private CA replaces the system store, it does not switch checks off.</summary>
    internal static bool TrustedBy(X509Certificate2Collection cas, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return CertificateTrust.ChainsTo(leaf, cas, DateTimeOffset.UtcNow);
    }
}
