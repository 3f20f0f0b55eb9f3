using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using Meshgate.Proxy.Upstream.Http1;

namespace Meshgate.Proxy.Tests.Upstream.Http1;

public sealed class Http1RequestWriterTests
{
    [Theory]
    [InlineData(ActivityTraceFlags.None)]
    [InlineData(ActivityTraceFlags.Recorded)]
    public void WriteTraceContext_W3CActivityWithoutStateOrBaggage_WritesItsIdAsTraceparent(ActivityTraceFlags flags)
    {
        using var activity = new Activity("server");
        activity.SetIdFormat(ActivityIdFormat.W3C);
        activity.ActivityTraceFlags = flags;
        activity.Start();

        var written = Written(activity);

        Assert.Equal($"traceparent: {activity.Id}\r\n", written);
        Assert.EndsWith(flags == ActivityTraceFlags.Recorded ? "-01\r\n" : "-00\r\n", written);
    }

    [Fact]
    public void WriteTraceContext_WithRemoteParentTracestateAndBaggage_WritesWhatThePropagatorWrites()
    {
        using var activity = new Activity("server");
        activity.SetIdFormat(ActivityIdFormat.W3C);
        activity.SetParentId(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        activity.TraceStateString = "vendor=abc,other=1";
        activity.AddBaggage("tenant", "acme");
        activity.Start();

        var expected = new StringBuilder();
        DistributedContextPropagator.Current.Inject(activity, expected,
            static (carrier, name, value) => ((StringBuilder)carrier!).Append(name).Append(": ").Append(value).Append("\r\n"));

        var written = Written(activity);

        Assert.Equal(expected.ToString(), written);
        Assert.Contains("tracestate: vendor=abc,other=1\r\n", written);
        Assert.Contains("baggage: ", written);
    }

    private static string Written(Activity activity)
    {
        var pipe = new Pipe();
        Http1RequestWriter.WriteTraceContext(pipe.Writer, activity);
        pipe.Writer.Complete();
        Assert.True(pipe.Reader.TryRead(out var result));
        var text = Encoding.Latin1.GetString(result.Buffer.ToArray());
        pipe.Reader.AdvanceTo(result.Buffer.End);
        return text;
    }
}
