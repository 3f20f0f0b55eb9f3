using System.Diagnostics;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// The request's trace context while tracing is on, sampled or not: the one place every step reads it from (the
/// traceparent to the upstream on both forwarders, the access log's trace id, the trace-id response header). An
/// unsampled request has no Activity at all: its context is these numbers, a trace id (the caller's, or a new one) and
/// a span id of the gateway's that the upstream sees as its parent. A sampled one also has its server span.
/// </summary>
/// <remarks>
/// One per connection (an HTTP/2 or HTTP/3 stream's is kept per pooled stream), reset for each request
/// (<see cref="For"/>), like the access log's counting body: requests of one connection come one after another, so a
/// keep-alive connection's requests make no new object.
/// </remarks>
internal sealed class TraceContextFeature
{
    private static readonly object PersistentStateKey = new();

    public TraceId TraceId { get; private set; }

    /// <summary>The gateway's span for this request: the server span's id when sampled, else an id of its own.</summary>
    public ulong SpanId { get; private set; }

    /// <summary>Recorded and exported (the caller's sampled flag, or the ratio for a new trace).</summary>
    public bool Sampled { get; private set; }

    /// <summary>The caller's traceparent was well formed and is continued; its tracestate then goes on with it.</summary>
    public bool Continued { get; private set; }

    /// <summary>The caller's span id when <see cref="Continued"/>: the server span's parent.</summary>
    public ulong ParentId { get; private set; }

    /// <summary>The server span while a sampled request is in the gateway; null otherwise.</summary>
    public Activity? ServerSpan { get; private set; }

    /// <summary>The connection's context object (a new one when the connection has none yet), not yet begun.</summary>
    public static TraceContextFeature For(HttpContext context)
    {
        var state = context.Features.Get<IPersistentStateFeature>()?.State;
        if (state is not null && state.TryGetValue(PersistentStateKey, out var kept) && kept is TraceContextFeature feature) return feature;
        feature = new TraceContextFeature();
        if (state is not null) state[PersistentStateKey] = feature;
        return feature;
    }

    /// <summary>
    /// Decides the request's context: a well-formed caller's traceparent is continued with its sampled flag (parent-based);
    /// otherwise a new trace, recorded for <paramref name="ratio"/> of requests.
    /// </summary>
    public void Begin(Microsoft.Extensions.Primitives.StringValues traceparent, double ratio)
    {
        ServerSpan = null;
        Continued = TraceParent.TryParse(traceparent, out var traceId, out var parentId, out var sampled);
        if (!Continued)
        {
            traceId = TraceId.CreateRandom();
            sampled = IsSampled(traceId, ratio);
        }
        TraceId = traceId;
        ParentId = parentId;
        Sampled = sampled;
        SpanId = TraceParent.NewSpanId();
    }

    /// <summary>
    /// OpenTelemetry's TraceIdRatioBasedSampler's rule: the trace id's first 8 bytes (sign bit cleared) below
    /// <paramref name="ratio"/> of their range. A function of the trace id, so gateways with the same ratio agree.
    /// </summary>
    internal static bool IsSampled(TraceId traceId, double ratio)
    {
        var bound = ratio <= 0 ? long.MinValue : ratio >= 1 ? long.MaxValue : (long)(ratio * long.MaxValue);
        return ((long)traceId.High & long.MaxValue) < bound;
    }

    /// <summary>The sampled request's server span: its span id becomes the context's (the trace id is the span's already).</summary>
    public void Recording(Activity span)
    {
        ServerSpan = span;
        SpanId = TraceParent.SpanIdOf(span.SpanId);
    }

    /// <summary>No server span after all (nothing listened): the request goes on unsampled.</summary>
    public void NotRecorded() => Sampled = false;

    /// <summary>The request has left the gateway: the span is no longer the request's.</summary>
    public void Ended() => ServerSpan = null;

    /// <summary>
    /// The parent context for the server span of a new trace: the trace id decided here and no span id, which .NET takes as
    /// "this trace, no parent span", so the span is a root under the id the sampling decision was made for.
    /// </summary>
    public ActivityContext NewTraceContext() => new(TraceId.ToActivityTraceId(), default, ActivityTraceFlags.Recorded);

    /// <summary>The remote parent for the server span of a continued trace.</summary>
    public ActivityContext CallerContext(string? tracestate)
    {
        Span<byte> parent = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(parent, ParentId);
        return new(TraceId.ToActivityTraceId(), ActivitySpanId.CreateFromBytes(parent), Sampled ? ActivityTraceFlags.Recorded : ActivityTraceFlags.None, tracestate, isRemote: true);
    }
}
