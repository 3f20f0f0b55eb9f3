using Meshgate.Proxy.Observability.AccessLog;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.Proxy.Tests.Observability.AccessLog;

public sealed class CountingResponseBodyTests
{
    private sealed class ConnectionState : IPersistentStateFeature
    {
        public IDictionary<object, object?> State { get; } = new Dictionary<object, object?>();
    }

    private static DefaultHttpContext Request(IPersistentStateFeature connection, IHttpResponseBodyFeature body)
    {
        var context = new DefaultHttpContext();
        context.Features.Set(connection);
        context.Features.Set(body);
        return context;
    }

    [Fact]
    public async Task For_NextRequestOfTheSameConnection_ReusesTheBodyCountingFromZero()
    {
        var connection = new ConnectionState();
        var kestrelBody = new StreamResponseBodyFeature(new MemoryStream());

        var first = CountingResponseBody.For(Request(connection, kestrelBody));
        await first.WriteAsync(new byte[5]);
        var firstWriter = first.Writer;
        var second = CountingResponseBody.For(Request(connection, kestrelBody));

        Assert.Same(first, second);
        Assert.Equal(0, second.BytesWritten);
        Assert.NotSame(firstWriter, second.Writer);
        await second.WriteAsync(new byte[3]);
        Assert.Equal(3, second.BytesWritten);
    }

    [Fact]
    public async Task Writer_CountsWhatItPassesToTheServersWriter_InOrderWithTheStream()
    {
        var output = new MemoryStream();
        var body = CountingResponseBody.For(Request(new ConnectionState(), new StreamResponseBodyFeature(output)));

        await body.Writer.WriteAsync("ab"u8.ToArray());
        await body.WriteAsync("cd"u8.ToArray());
        var span = body.Writer.GetSpan(2);
        "ef"u8.CopyTo(span);
        body.Writer.Advance(2);
        await body.Writer.CompleteAsync();

        Assert.Equal(6, body.BytesWritten);
        Assert.Equal("abcdef", System.Text.Encoding.ASCII.GetString(output.ToArray()));
    }

    [Fact]
    public void For_AnotherResponseFeatureOrNoConnectionState_MakesANewBody()
    {
        var connection = new ConnectionState();
        var first = CountingResponseBody.For(Request(connection, new StreamResponseBodyFeature(new MemoryStream())));

        Assert.NotSame(first, CountingResponseBody.For(Request(connection, new StreamResponseBodyFeature(new MemoryStream()))));
        var alone = new DefaultHttpContext();
        Assert.NotSame(CountingResponseBody.For(alone), CountingResponseBody.For(alone));
    }
}
