using System.Diagnostics;
using Meshgate.Proxy.Observability.Tracing;
using OpenTelemetry.Trace;

namespace Meshgate.Proxy.Tests.Observability.Tracing;

public sealed class TraceContextFeatureTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(0.01)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    public void IsSampled_DecidesAsOpenTelemetrysRatioSamplerDoesForTheSameTraceId(double ratio)
    {
        var otel = new TraceIdRatioBasedSampler(ratio);
        var ids = Enumerable.Range(0, 20_000).Select(_ => TraceId.CreateRandom()).ToList();

        var sampled = ids.Count(id => TraceContextFeature.IsSampled(id, ratio));

        foreach (var id in ids.Take(2000))
        {
            var parameters = new SamplingParameters(default, id.ToActivityTraceId(), "GET", ActivityKind.Server);
            Assert.Equal(otel.ShouldSample(parameters).Decision == SamplingDecision.RecordAndSample, TraceContextFeature.IsSampled(id, ratio));
        }
        // Generous bounds: 20,000 draws.
        Assert.InRange(sampled, ids.Count * ratio * 0.7 - 1, ids.Count * ratio * 1.3 + 1);
    }

    [Fact]
    public void Begin_ContinuesAWellFormedCallerContext_ElseStartsANewTrace()
    {
        var trace = new TraceContextFeature();
        trace.Begin("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ratio: 0);
        Assert.True(trace.Continued);
        Assert.True(trace.Sampled);
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", trace.TraceId.ToString());
        Assert.Equal(0x00f067aa0ba902b7UL, trace.ParentId);
        Assert.NotEqual(trace.ParentId, trace.SpanId);

        // The same object for the connection's next request: nothing of the last one stays.
        trace.Begin("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x", ratio: 0);
        Assert.False(trace.Continued);
        Assert.False(trace.Sampled);
        Assert.NotEqual("4bf92f3577b34da6a3ce929d0e0e4736", trace.TraceId.ToString());
        Assert.Equal(0UL, trace.ParentId);
        Assert.Null(trace.ServerSpan);
    }
}
