using System.Net;
using System.Net.Sockets;
using Meshgate.Proxy.Sockets;

namespace Meshgate.Proxy.Tests.Sockets;

/// <summary>
/// The epoll engine's socket on real loopback connections: receives that wait for epoll's edge after a short read and
/// still miss no byte, sends larger than the kernel's buffer, the peer's close and reset, a close under a pending
/// receive, and connects (the transport and the upstream path run the forwarding suite on top of it).
/// </summary>
public sealed class EpollSocketTests : IAsyncLifetime
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private Socket _peer = null!;
    private EpollSocket _socket = null!;

    public async Task InitializeAsync()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen();
        var accepting = _listener.AcceptAsync();
        var stream = await EpollStream.ConnectAsync(_listener.LocalEndPoint!, CancellationToken.None);
        _socket = stream.Socket;
        _peer = await accepting;
    }

    public Task DisposeAsync()
    {
        _socket.Dispose();
        _peer.Dispose();
        _listener.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Receive_BeforeTheBytesArrive_CompletesWhenTheyDo()
    {
        var buffer = new byte[100];
        var receive = _socket.ReceiveAsync(buffer);
        await Task.Delay(50);
        Assert.False(receive.IsCompleted);

        _peer.Send("hello"u8);

        Assert.Equal(5, await receive.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buffer, 0, 5));
    }

    [Fact]
    public async Task Receive_AfterAShortRead_WaitsForTheNextEdgeAndGetsItsBytes()
    {
        var buffer = new byte[100];
        _peer.Send("one"u8);
        Assert.Equal(3, await _socket.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(_socket.Readable); // a short read drained it: the next receive waits without a recv

        var next = _socket.ReceiveAsync(buffer);
        Assert.False(next.IsCompleted);
        _peer.Send("two"u8);
        Assert.Equal(3, await next.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("two", System.Text.Encoding.ASCII.GetString(buffer, 0, 3));
    }

    [Fact]
    public async Task Receive_SmallBuffers_GetEveryByteOfALargeMessageInOrder()
    {
        var sent = new byte[1024 * 1024];
        Random.Shared.NextBytes(sent);
        var sending = Task.Run(() => _peer.Send(sent));
        var received = new byte[sent.Length];
        var filled = 0;
        while (filled < received.Length)
        {
            // Reads that fill their buffer leave the socket marked readable; the last one of a burst finds EAGAIN.
            var read = await _socket.ReceiveAsync(received.AsMemory(filled, Math.Min(1000, received.Length - filled))).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(read > 0);
            filled += read;
        }
        await sending;
        Assert.Equal(sent, received);
    }

    [Fact]
    public async Task Send_LargerThanTheKernelTakes_CompletesAsThePeerReads()
    {
        var sent = new byte[16 * 1024 * 1024];
        Random.Shared.NextBytes(sent);
        var send = _socket.SendAsync(sent);
        await Task.Delay(100);
        Assert.False(send.IsCompleted); // the peer has read nothing: the kernel's buffers hold far less than 16 MiB

        var received = await Blocks.ReceiveAsync(_peer, sent.Length);
        await send.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(sent, received);
    }

    [Fact]
    public async Task Send_ManySegments_GatheredInOrder_EvenPastTheKernelsBuffer()
    {
        // 600 blocks of 4 KiB (more than one sendmsg takes, and more than the kernel buffers): sent whole and in order.
        var blocks = Enumerable.Range(0, 600).Select(i => Enumerable.Range(0, 4096).Select(j => (byte)(i * 7 + j)).ToArray()).ToList();
        var send = _socket.SendAsync(Blocks.Sequence(blocks));

        var expected = blocks.SelectMany(b => b).ToArray();
        var received = await Blocks.ReceiveAsync(_peer, expected.Length);
        await send.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(expected, received);
    }

    [Fact]
    public async Task Send_SmallBlockThenOneLargerThanTheKernelTakes_SendsTheLargeOnesRestWhole()
    {
        // The first sendmsg takes the small block and part of the large one; what is left is a single segment, sent
        // from the right offset by plain sends as the peer reads.
        var blocks = new List<byte[]> { new byte[100], new byte[16 * 1024 * 1024] };
        Random.Shared.NextBytes(blocks[0]);
        Random.Shared.NextBytes(blocks[1]);
        var send = _socket.SendAsync(Blocks.Sequence(blocks));
        await Task.Delay(100);
        Assert.False(send.IsCompleted);

        var expected = blocks.SelectMany(b => b).ToArray();
        var received = await Blocks.ReceiveAsync(_peer, expected.Length);
        await send.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(expected, received);
    }

    [Fact]
    public async Task Receive_PeerClosed_ReturnsZero()
    {
        var receive = _socket.ReceiveAsync(new byte[10]);
        _peer.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await receive.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, await _socket.ReceiveAsync(new byte[10]).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Receive_BytesAndTheirEndTogether_TheEndComesWithoutAnotherEdge()
    {
        // An upstream that answers and closes (a body read to its end): one edge brings both, and a short read of the
        // bytes must not be taken to have drained the socket, or the end is never read.
        _peer.Send("last"u8);
        _peer.Shutdown(SocketShutdown.Send);
        await Task.Delay(100);
        var buffer = new byte[100];
        Assert.Equal(4, await _socket.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, await _socket.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Receive_PeerReset_FailsAsAStreamWould()
    {
        var receive = _socket.ReceiveAsync(new byte[10]);
        _peer.LingerState = new LingerOption(true, 0);
        _peer.Close();
        var error = await Assert.ThrowsAsync<IOException>(() => receive.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task Send_AfterThePeersReset_FailsWithTheReset()
    {
        // The error is the call's own errno (read straight after the call, which runs without the runtime's transition).
        await ResetPeerAsync();
        var error = await Assert.ThrowsAsync<IOException>(() => _socket.SendAsync(new byte[100]).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task Send_ManySegmentsAfterThePeersReset_FailsWithTheReset()
    {
        // Arrays, not the pool's pinned blocks: sendmsg's errno must be read before their pins are released.
        await ResetPeerAsync();
        var blocks = Enumerable.Range(0, 3).Select(_ => new byte[1000]).ToList();
        var error = await Assert.ThrowsAsync<IOException>(() => _socket.SendAsync(Blocks.Sequence(blocks)).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
    }

    private async Task ResetPeerAsync()
    {
        _peer.LingerState = new LingerOption(true, 0);
        _peer.Close();
        await Task.Delay(100); // the RST reaches this socket
    }

    [Fact]
    public async Task Dispose_UnderAPendingReceive_EndsIt()
    {
        var receive = _socket.ReceiveAsync(new byte[10]);
        _socket.Dispose();
        var error = await Assert.ThrowsAsync<IOException>(() => receive.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(SocketError.OperationAborted, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        await Assert.ThrowsAsync<IOException>(() => _socket.SendAsync(new byte[1]).AsTask());
    }

    [Fact]
    public async Task Connect_NobodyListening_IsRefused()
    {
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var endPoint = closed.LocalEndPoint!; // bound, never listening: a connect to it is refused

        var error = await Assert.ThrowsAsync<SocketException>(() => EpollStream.ConnectAsync(endPoint, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));

        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    [Fact]
    public async Task Connect_ByName_TriesItsAddresses()
    {
        var port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        var accepting = _listener.AcceptAsync();

        await using var stream = await EpollStream.ConnectAsync(new DnsEndPoint("localhost", port), CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        using var peer = await accepting;
        await stream.WriteAsync("ping"u8.ToArray());

        var buffer = new byte[4];
        Assert.Equal(4, await peer.ReceiveAsync(buffer));
        Assert.Equal("ping"u8.ToArray(), buffer);
    }
}
