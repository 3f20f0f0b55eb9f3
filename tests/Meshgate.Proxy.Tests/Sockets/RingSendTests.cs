using System.Net;
using System.Net.Sockets;
using Meshgate.Proxy.Sockets;

namespace Meshgate.Proxy.Tests.Sockets;

/// <summary>
/// Sends through the loop's io_uring ring (EpollSocket.SendsThroughRing), on real loopback connections: a send made on the
/// loop's thread completes at the end of the loop's turn, sends larger than the kernel's buffer complete as the peer
/// reads, gathered blocks arrive in order, a reset fails the send, and a close under a send in the ring ends it without
/// the descriptor going first. Each test reaches the loop's thread the way the gateway's code does: resumed there by a
/// receive that epoll completes.
/// </summary>
public sealed class RingSendTests : IAsyncLifetime
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private Socket _peer = null!;
    private EpollSocket _socket = null!;

    public async Task InitializeAsync()
    {
        // The machines this project runs on allow io_uring; one that does not should say so here rather than pass.
        Assert.True(IoUring.Allowed, $"this kernel refuses io_uring (errno {IoUring.RefusedErrno})");
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen();
        var accepting = _listener.AcceptAsync();
        var stream = await EpollStream.ConnectAsync(_listener.LocalEndPoint!, CancellationToken.None, sendsThroughRing: true);
        _socket = stream.Socket;
        _peer = await accepting;
    }

    public Task DisposeAsync()
    {
        _socket?.Dispose();
        _peer?.Dispose();
        _listener.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Send_OnTheLoopsThread_CompletesAtTheTurnsEndAndArrives()
    {
        var completedAtOnce = true;
        var send = await OnLoopThreadAsync(() =>
        {
            var sending = _socket.SendAsync("through the ring"u8.ToArray());
            completedAtOnce = sending.IsCompleted;
            return sending;
        });
        Assert.False(completedAtOnce); // queued in the ring until the turn's end: a send system call completes it at once
        await send.AsTask().WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal("through the ring", System.Text.Encoding.ASCII.GetString(await Blocks.ReceiveAsync(_peer, 16)));
    }

    [Fact]
    public async Task TrySend_OfASmallAnswer_TakesNothing_SoTheCallerWritesToItsPipe()
    {
        Assert.Equal(0, _socket.TrySend("head"u8, "body"u8));
        _peer.ReceiveTimeout = 200;
        Assert.Throws<SocketException>(() => _peer.Receive(new byte[10]));
    }

    [Fact]
    public async Task Send_LargerThanTheRingsLimit_IsMadeAtOnce()
    {
        // 32 KiB: its copy is most of its cost, so it goes to the socket at once rather than wait for the turn's end.
        var sent = new byte[32 * 1024];
        Random.Shared.NextBytes(sent);
        var completedAtOnce = false;
        var send = await OnLoopThreadAsync(() =>
        {
            var sending = _socket.SendAsync(sent);
            completedAtOnce = sending.IsCompleted;
            return sending;
        });
        Assert.True(completedAtOnce);
        await send;
        var received = await Blocks.ReceiveAsync(_peer, sent.Length);
        Assert.Equal(sent, received);
        Assert.Equal(32 * 1024, _socket.TrySend(new byte[16 * 1024], new byte[16 * 1024])); // and straight from a writer too
    }

    [Fact]
    public async Task Send_LargerThanTheKernelTakes_CompletesAsThePeerReads()
    {
        _socket.RingSendLimit = int.MaxValue; // through the ring, however large: the rest is queued again as room comes
        var sent = new byte[16 * 1024 * 1024];
        Random.Shared.NextBytes(sent);
        var send = await OnLoopThreadAsync(() => _socket.SendAsync(sent));
        await Task.Delay(100);
        Assert.False(send.IsCompleted); // the peer has read nothing: the rest waits in the ring for room

        var received = await Blocks.ReceiveAsync(_peer, sent.Length);
        await send.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(sent, received);
    }

    [Fact]
    public async Task Send_ManySegments_GatheredInOrder_EvenPastTheKernelsBuffer()
    {
        // 600 blocks of 4 KiB: more than one sendmsg's 64 vectors, and more than the kernel buffers.
        _socket.RingSendLimit = int.MaxValue;
        var blocks = Enumerable.Range(0, 600).Select(i => Enumerable.Range(0, 4096).Select(j => (byte)(i * 7 + j)).ToArray()).ToList();
        var send = await OnLoopThreadAsync(() => _socket.SendAsync(Blocks.Sequence(blocks)));

        var expected = blocks.SelectMany(b => b).ToArray();
        var received = await Blocks.ReceiveAsync(_peer, expected.Length);
        await send.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(expected, received);
    }

    [Fact]
    public async Task Send_AfterThePeersReset_FailsAsAResetConnectionDoes()
    {
        var wake = _socket.ReceiveAsync(new byte[100]);
        Assert.False(wake.IsCompleted);
        // The reset fails the pending receive on the loop's thread, and the send is made there.
        var sending = AfterAsync(wake, () => _socket.SendAsync(new byte[100]));
        _peer.LingerState = new LingerOption(true, 0);
        _peer.Close();
        var send = await sending;
        var error = await Assert.ThrowsAsync<IOException>(() => send.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        // The receive took the reset's own error (ECONNRESET); a send after it is told the connection is gone (EPIPE).
        Assert.Contains(Assert.IsType<SocketException>(error.InnerException).SocketErrorCode, new[] { SocketError.ConnectionReset, SocketError.Shutdown });
    }

    [Fact]
    public async Task Dispose_UnderASendInTheRing_EndsItAndThePeerSeesTheEnd()
    {
        _socket.RingSendLimit = int.MaxValue;
        var send = await OnLoopThreadAsync(() => _socket.SendAsync(new byte[16 * 1024 * 1024]));
        await Task.Delay(100);
        Assert.False(send.IsCompleted);

        _socket.Dispose();

        var error = await Assert.ThrowsAsync<IOException>(() => send.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(SocketError.OperationAborted, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        // The descriptor was closed once the ring gave the send back: the peer reads what was sent, then the end.
        var buffer = new byte[1024 * 1024];
        var deadline = DateTime.UtcNow.AddSeconds(10);
        int read;
        do read = await _peer.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(5));
        while (read > 0 && DateTime.UtcNow < deadline);
        Assert.Equal(0, read);
    }

    /// <summary>Runs <paramref name="start"/> on the loop's thread (resumed there by a receive the peer completes), as the gateway's sends run.</summary>
    private async Task<ValueTask> OnLoopThreadAsync(Func<ValueTask> start)
    {
        var wake = _socket.ReceiveAsync(new byte[1]);
        Assert.False(wake.IsCompleted);
        var started = AfterAsync(wake, start); // waiting before the peer sends, so the receive's completion resumes it
        _peer.Send("x"u8);
        return await started;
    }

    /// <summary><paramref name="start"/>'s result, run where <paramref name="wake"/> completes (or fails): the loop's thread.</summary>
    private async Task<ValueTask> AfterAsync(ValueTask<int> wake, Func<ValueTask> start)
    {
        try
        {
            await wake.ConfigureAwait(false);
        }
        catch (IOException)
        {
            // A reset fails the receive, on the loop's thread too.
        }
        Assert.True(_socket.Loop.IsCurrent);
        return start();
    }
}
