using System.Diagnostics;
using OpenTelemetry.Trace;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// OpenTelemetry's sampler, agreeing with the decision the gateway has already made: <see cref="TracingMiddleware"/>
/// starts a server span only for a sampled request (a root for a new trace, or the child of a caller's sampled span), and
/// client spans are only started under a recorded server span (<see cref="UpstreamSpans"/>). Every span it is asked about
/// therefore comes with a sampled parent context (a new trace's root is given its trace id that way, with no parent span),
/// and is recorded; one under an unsampled parent would not be (nothing of the gateway's starts one).
/// </summary>
/// <remarks>
/// The ratio is not applied here but in <see cref="TraceContextFeature.Begin"/>, before any Activity exists: a dropped
/// span would still be created, since OpenTelemetry maps Drop for a root or remote parent to "propagation only".
/// </remarks>
internal sealed class GatewaySampler : Sampler
{
    private static readonly SamplingResult Sample = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    public override SamplingResult ShouldSample(in SamplingParameters parameters)
    {
        var parent = parameters.ParentContext;
        return parent.TraceId == default || (parent.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? Sample : Drop;
    }
}
