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
        _ = first.Writer;
        await first.FinishAsync();
        var second = CountingResponseBody.For(Request(connection, kestrelBody));

        Assert.Same(first, second);
        Assert.Equal(0, second.BytesWritten);
        Assert.False(second.HasWriter);
        await second.WriteAsync(new byte[3]);
        Assert.Equal(3, second.BytesWritten);
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
