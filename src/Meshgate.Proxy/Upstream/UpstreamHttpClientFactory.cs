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
        // On the epoll engine YARP's connections are made and read on the requesting thread's loop too: the answer is
        // then read and sent to the client by one thread, where .NET's sockets would read it on their own thread and
        // wake the loop's (docs/sockets.md).
        if (snapshots.Current.EpollSockets) handler.ConnectCallback = static async (connection, cancellationToken) =>
            await Sockets.EpollStream.ConnectAsync(connection.DnsEndPoint, cancellationToken);
        if (!snapshots.Current.ClusterPolicies.TryGetValue(context.ClusterId, out var policy)) return;

        handler.ConnectTimeout = policy.ConnectTimeout;
        // The same checks and client certificate as the direct path's connections (one place builds them).
        tls.For(policy).ApplyTo(handler.SslOptions);
    }
}
