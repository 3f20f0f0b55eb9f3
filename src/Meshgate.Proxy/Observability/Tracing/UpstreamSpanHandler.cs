using System.Diagnostics;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// Trace context toward the upstream, and one client span per upstream attempt of a recorded request. It sits in
/// YARP's forwarder client below the hedging handler, so every retry (which goes through the forwarder again) and
/// every hedge (a separate send below that handler) gets a span of its own. It writes traceparent, tracestate and
/// baggage itself, through YARP's ReverseProxyPropagator (which first removes the caller's copies), naming the
/// attempt's span as parent, or the server span when the request is not recorded.
/// </summary>
/// <remarks>
/// The SocketsHttpHandler's own propagation is switched off (<see cref="DisablePropagation"/>): it made a
/// System.Net.Http Activity for every attempt of every request that had a current Activity — tags, an AsyncLocal
/// write and a traceparent string, about 600 bytes in the allocation profile — even when no one listened to it,
/// only for nothing to record it. Attributes follow OpenTelemetry's HTTP client conventions.
/// </remarks>
internal sealed class UpstreamSpanHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private static readonly DistributedContextPropagator Propagator = new Yarp.ReverseProxy.Forwarder.ReverseProxyPropagator(DistributedContextPropagator.Current);
    private static readonly DistributedContextPropagator.PropagatorSetterCallback SetHeader =
        static (carrier, name, value) => ((HttpRequestMessage)carrier!).Headers.TryAddWithoutValidation(name, value);

    /// <summary>For the handler this one wraps: its propagation would make an Activity per attempt (see remarks).</summary>
    public static void DisablePropagation(SocketsHttpHandler handler) => handler.ActivityHeadersPropagator = null;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        switch (Activity.Current)
        {
            case { Recorded: true }:
                return SendRecordedAsync(request, cancellationToken);
            case { } unrecorded:
                Propagator.Inject(unrecorded, request, SetHeader);
                break;
        }
        return base.SendAsync(request, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendRecordedAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var span = UpstreamSpans.Start(request.Method.Method);
        Propagator.Inject(span ?? Activity.Current, request, SetHeader);
        if (UpstreamSpans.Describes(span) && request.RequestUri is { } uri) UpstreamSpans.Describe(span!, request.Method.Method, uri);
        try
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (UpstreamSpans.Describes(span)) UpstreamSpans.Answered(span!, (int)response.StatusCode, response.Version.ToString(2));
            return response;
        }
        catch (Exception e) when (UpstreamSpans.Describes(span))
        {
            UpstreamSpans.Failed(span!, e);
            throw;
        }
    }
}
