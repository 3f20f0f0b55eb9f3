using System.Diagnostics;
using System.Text;
using Meshgate.Proxy.Observability.Tracing;

namespace Meshgate.Proxy.Tests.Observability.Tracing;

public sealed class TraceParentTests
{
    [Theory]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true)]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", false)]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", true)]            // other flag bits: sampled is bit 0
    [InlineData("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true)]            // a future version, read as 00
    [InlineData("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes", true)] // and what it adds is ignored
    public void TryParse_WellFormed_ReadsTheIdsAndTheSampledFlag(string header, bool sampled)
    {
        Assert.True(TraceParent.TryParse(header, out var traceId, out var parentId, out var flag));
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", traceId.ToString());
        Assert.Equal(0x00f067aa0ba902b7UL, parentId);
        Assert.Equal(sampled, flag);
    }

    [Theory]
    [InlineData("")]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0")]                  // too short
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-")]                // version 00 is exactly 55
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01")]                 // dashes in the wrong place
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01")]                 // not hex
    [InlineData("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")]                 // upper case
    [InlineData("00-00000000000000000000000000000000-00f067aa0ba902b7-01")]                 // all-zero trace id
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01")]                 // all-zero parent id
    [InlineData("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]                 // version ff is invalid
    [InlineData("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x")]                // a future version's extra needs a dash
    [InlineData("00-\"},\"status\":200,\"x\":\"aaaaaaaaaaaaaaaaaaaa-01")]                   // hostile text
    public void TryParse_Malformed_IsRejected(string header)
    {
        Assert.False(TraceParent.TryParse(header, out var traceId, out var parentId, out var sampled));
        Assert.True(traceId.IsEmpty);
        Assert.Equal(0UL, parentId);
        Assert.False(sampled);
    }

    [Fact]
    public void TryParse_TwoHeaders_AreRejected() =>
        Assert.False(TraceParent.TryParse(new(["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b7-01"]), out _, out _, out _));

    [Fact]
    public void FormatAndToString_WriteWhatAnActivityIdWouldBe()
    {
        using var activity = new Activity("x");
        activity.SetIdFormat(ActivityIdFormat.W3C);
        activity.ActivityTraceFlags = ActivityTraceFlags.Recorded;
        activity.Start();
        var traceId = TraceId.From(activity.TraceId);
        var spanId = TraceParent.SpanIdOf(activity.SpanId);

        Span<byte> utf8 = stackalloc byte[TraceParent.Length];
        TraceParent.Format(utf8, traceId, spanId, sampled: true);

        Assert.Equal(activity.Id, Encoding.ASCII.GetString(utf8));
        Assert.Equal(activity.Id, TraceParent.ToString(traceId, spanId, sampled: true));
        Assert.Equal(activity.TraceId, traceId.ToActivityTraceId());
    }

    [Fact]
    public void CreateRandom_IsNeverEmpty_AndDiffers() =>
        Assert.Equal(1000, Enumerable.Range(0, 1000).Select(_ => TraceId.CreateRandom()).Where(id => !id.IsEmpty).Distinct().Count());
}
