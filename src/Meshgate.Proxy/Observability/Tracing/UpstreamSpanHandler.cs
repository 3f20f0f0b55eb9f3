using System.Diagnostics;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// One client span per upstream attempt of a sampled request on YARP's path. It sits in YARP's forwarder client below the
/// hedging handler, so every retry (which goes through the forwarder again) and every hedge (a separate send below that
/// handler) gets a span of its own, named in the attempt's traceparent as the upstream's parent. The trace context of an
/// unsampled request is already on the request (<see cref="TraceContextTransform"/>): this handler passes it through.
/// </summary>
/// <remarks>
/// The SocketsHttpHandler's own propagation is switched off (<see cref="DisablePropagation"/>): it made a
/// System.Net.Http Activity for every attempt of every request that had a current Activity — tags, an AsyncLocal
/// write and a traceparent string, about 600 bytes in the allocation profile — even when no one listened to it,
/// only for nothing to record it. Attributes follow OpenTelemetry's HTTP client conventions.
/// </remarks>
internal sealed class UpstreamSpanHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    /// <summary>For the handler this one wraps: its propagation would make an Activity per attempt (see remarks).</summary>
    public static void DisablePropagation(SocketsHttpHandler handler) => handler.ActivityHeadersPropagator = null;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        // Only a sampled request's server span is ever the current Activity here (an unsampled request has none).
        Activity.Current is { Recorded: true } ? SendRecordedAsync(request, cancellationToken) : base.SendAsync(request, cancellationToken);

    private async Task<HttpResponseMessage> SendRecordedAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var span = UpstreamSpans.Start(request.Method.Method);
        if (span is not null)
        {
            // 00-{trace id}-{the attempt's span id}-01: the span's W3C id is exactly the traceparent value.
            request.Headers.Remove(TraceParent.Header);
            request.Headers.TryAddWithoutValidation(TraceParent.Header, span.Id);
        }
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
