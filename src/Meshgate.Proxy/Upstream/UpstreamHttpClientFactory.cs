using Meshgate.Proxy.Pipeline;
using Yarp.ReverseProxy.Forwarder;

namespace Meshgate.Proxy.Upstream;

/// <summary>
/// Applies the cluster settings YARP's HttpClientConfig has no key for: connect timeout, and the cluster's TLS (a private
/// CA bundle, a client certificate, mesh mTLS for discovery: mesh clusters) from <see cref="UpstreamTlsPolicy"/>, which
/// the direct path's connections take too. YARP calls this when a cluster's client settings change.
/// </summary>
internal sealed class UpstreamHttpClientFactory(SnapshotAccessor snapshots, TimeProvider time, UpstreamTlsPolicies tls) : ForwarderHttpClientFactory
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
        // The same checks and client certificate as the direct path's connections (one place builds them).
        tls.For(policy).ApplyTo(handler.SslOptions);
    }
}
