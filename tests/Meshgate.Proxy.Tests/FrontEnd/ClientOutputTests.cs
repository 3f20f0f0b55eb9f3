using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Meshgate.Proxy.FrontEnd;
using Meshgate.Proxy.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Proxy.Tests.FrontEnd;

/// <summary>
/// Where the front end's answers go, on real loopback connections of the epoll engine: straight to the socket, or through
/// the transport's pipe when a layer replaced it (DirectFrontEndTests has answers larger than the socket takes).
/// </summary>
public sealed class ClientOutputTests : IAsyncLifetime
{
    private IConnectionListener _listener = null!;
    private readonly Socket _client = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private ConnectionContext _connection = null!;

    public async Task InitializeAsync()
    {
        _listener = await new EpollTransportFactory(NullLoggerFactory.Instance).BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        await _client.ConnectAsync(_listener.EndPoint);
        _connection = (await _listener.AcceptAsync())!;
    }

    public async Task DisposeAsync()
    {
        await _connection.DisposeAsync();
        _client.Dispose();
        await _listener.DisposeAsync();
    }

    [Fact]
    public async Task AnAnswer_GoesStraightToTheSocket_InOneWrite()
    {
        var output = new ClientOutput(_connection);
        Assert.True(output.SendsDirectly);

        output.Write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"u8, "hello"u8);
        var flush = output.FlushAsync(CancellationToken.None);

        Assert.True(flush.IsCompletedSuccessfully, "the flush waited: the bytes went through the pipe");
        Assert.Equal(0, ((EpollConnection)_connection).PipeBytesSent);
        Assert.Equal("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", await ReceiveAsync(43));
    }

    [Fact]
    public async Task UnderALayerThatReplacedTheTransport_WritesGoThroughItsPipe()
    {
        // As TLS does: the transport's output is then the layer's, and the socket must not see the plain bytes.
        var layer = new Pipe();
        _connection.Transport = new DuplexPipe(_connection.Transport.Input, layer.Writer);
        var output = new ClientOutput(_connection);
        Assert.False(output.SendsDirectly);

        output.Write("plain "u8, "bytes"u8);
        await output.FlushAsync(CancellationToken.None);

        var read = await layer.Reader.ReadAsync();
        Assert.Equal("plain bytes", Encoding.ASCII.GetString(read.Buffer));
        Assert.Equal(0, _client.Available);
    }

    private async Task<string> ReceiveAsync(int count)
    {
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count) filled += await _client.ReceiveAsync(buffer.AsMemory(filled)).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        return Encoding.ASCII.GetString(buffer);
    }
}
