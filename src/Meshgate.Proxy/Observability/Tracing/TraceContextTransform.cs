using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// YARP's path: the request's trace context to the upstream, from <see cref="TraceContextFeature"/> (there is no
/// Activity to propagate from for an unsampled request). Runs for every forward (a retry forwards again), after YARP has
/// copied the caller's headers: the caller's traceparent is replaced with the gateway's, its tracestate kept only when its
/// trace is continued, its baggage passed on as it came. For a sampled request <see cref="UpstreamSpanHandler"/> then
/// names each attempt's own span as the parent.
/// </summary>
internal sealed class TraceContextTransform : RequestTransform
{
    private static readonly TraceContextTransform Instance = new();

    public override ValueTask ApplyAsync(RequestTransformContext context)
    {
        if (context.HttpContext.Features.Get<TraceContextFeature>() is not { } trace) return default;
        var headers = context.ProxyRequest.Headers;
        headers.Remove(TraceParent.Header);
        if (!trace.Continued) headers.Remove(TraceParent.StateHeader);
        headers.TryAddWithoutValidation(TraceParent.Header, TraceParent.ToString(trace.TraceId, trace.SpanId, trace.Sampled));
        return default;
    }

    /// <summary>Adds the transform to every route (registered only when tracing is on).</summary>
    internal sealed class Provider : ITransformProvider
    {
        public void ValidateRoute(TransformRouteValidationContext context) { }

        public void ValidateCluster(TransformClusterValidationContext context) { }

        public void Apply(TransformBuilderContext context) => context.RequestTransforms.Add(Instance);
    }
}
