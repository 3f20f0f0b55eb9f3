using System.Diagnostics;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Pipeline;
using OpenTelemetry.Trace;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// Parent-based sampling with the ratio of the current snapshot: a span with a parent (an incoming traceparent,
/// or the request's server span for an upstream attempt) follows the parent's sampled flag; a new trace is
/// recorded for <see cref="TracingPolicy.Sampling"/> of trace ids.
/// </summary>
/// <remarks>
/// Whatever is not recorded still gets an unrecorded Activity from OpenTelemetry's listener, so the trace context
/// still propagates upstream. Client spans are only started under a recorded server span (<see cref="UpstreamSpanHandler"/>),
/// so HTTP calls made outside any request (health probes, signing-key fetches) never start a trace of their own.
/// </remarks>
internal sealed class GatewaySampler(SnapshotAccessor snapshots) : Sampler
{
    private static readonly SamplingResult Sample = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    // The ratio sampler for the policy it was made from; rebuilt when a reload brings another policy.
    private volatile RatioFor? _ratio;

    public override SamplingResult ShouldSample(in SamplingParameters parameters)
    {
        if (snapshots.Current.Tracing is not { } policy) return Drop;
        var parent = parameters.ParentContext;
        if (parent.TraceId != default)
        {
            return (parent.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? Sample : Drop;
        }

        var ratio = _ratio;
        if (ratio is null || !ReferenceEquals(ratio.Policy, policy))
        {
            _ratio = ratio = new RatioFor(policy, new TraceIdRatioBasedSampler(policy.Sampling));
        }
        return ratio.Sampler.ShouldSample(parameters);
    }

    private sealed record RatioFor(TracingPolicy Policy, TraceIdRatioBasedSampler Sampler);
}
