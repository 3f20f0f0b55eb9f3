using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using Meshgate.Proxy.Observability.Tracing;
using Meshgate.Proxy.Upstream.Http1;

namespace Meshgate.Proxy.Tests.Upstream.Http1;

public sealed class Http1RequestWriterTests
{
    [Theory]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "-01")]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "-00")]
    public void WriteTraceParent_ContinuedTrace_KeepsTheTraceIdAndFlags_NamesTheGatewaysSpan(string incoming, string flags)
    {
        var trace = new TraceContextFeature();
        trace.Begin(incoming, ratio: 0);

        var written = Written(trace, attempt: null);

        Assert.Equal($"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-{trace.SpanId:x16}{flags}\r\n", written);
        Assert.NotEqual(0UL, trace.SpanId);
    }

    [Fact]
    public void WriteTraceParent_WithTheAttemptsSpan_IsWhatThatActivitysIdWouldBe()
    {
        using var attempt = new Activity("attempt");
        attempt.SetIdFormat(ActivityIdFormat.W3C);
        attempt.SetParentId(ActivityTraceId.CreateFromString("4bf92f3577b34da6a3ce929d0e0e4736"), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        attempt.Start();
        var trace = new TraceContextFeature();
        trace.Begin("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ratio: 0);

        Assert.Equal($"traceparent: {attempt.Id}\r\n", Written(trace, attempt));
    }

    [Fact]
    public void WriteTraceParent_NewTrace_HasANewTraceIdAndTheRatiosDecision()
    {
        var sampled = new TraceContextFeature();
        sampled.Begin(default, ratio: 1);
        var dropped = new TraceContextFeature();
        dropped.Begin("00-00000000000000000000000000000000-00f067aa0ba902b7-01", ratio: 0);

        Assert.Matches($"^traceparent: 00-{sampled.TraceId}-[0-9a-f]{{16}}-01\r\n$", Written(sampled, null));
        Assert.Matches($"^traceparent: 00-{dropped.TraceId}-[0-9a-f]{{16}}-00\r\n$", Written(dropped, null));
        Assert.False(dropped.Continued);
        Assert.NotEqual(sampled.TraceId, dropped.TraceId);
    }

    private static string Written(TraceContextFeature trace, Activity? attempt)
    {
        var pipe = new Pipe();
        Http1RequestWriter.WriteTraceParent(pipe.Writer, trace, attempt);
        pipe.Writer.Complete();
        Assert.True(pipe.Reader.TryRead(out var result));
        var text = Encoding.Latin1.GetString(result.Buffer.ToArray());
        pipe.Reader.AdvanceTo(result.Buffer.End);
        return text;
    }
}
