using System.Net;
using System.Net.Sockets;

namespace Meshgate.Proxy.Sockets;

/// <summary>
/// An upstream connection's stream on the epoll engine, in place of a <see cref="NetworkStream"/>: the direct path's
/// reader and writer (and TLS over it) read and write through <see cref="EpollSocket"/>. Reads and writes that take a
/// cancellable token (TLS's, with the activity timeout) close the socket when it fires, which ends them.
/// </summary>
internal sealed class EpollStream(EpollSocket socket) : Stream
{
    public EpollSocket Socket => socket;

    /// <summary>
    /// A connection to <paramref name="endPoint"/> on <paramref name="loop"/> (by default the calling thread's loop, or the
    /// next one), made without the runtime's engine ever seeing the socket: a non-blocking connect, then a wait for writability.
    /// </summary>
    /// <param name="sendsThroughRing">The connection sends through its loop's io_uring ring (<see cref="EpollSocket.SendsThroughRing"/>).</param>
    public static async ValueTask<EpollStream> ConnectAsync(EndPoint endPoint, CancellationToken cancellationToken, EpollLoop? loop = null, bool sendsThroughRing = false)
    {
        // Picked here, before any wait: a name's lookup continues on another thread.
        loop ??= EpollLoop.Pick();
        if (endPoint is not DnsEndPoint dns) return await ConnectAsync((IPEndPoint)endPoint, loop, sendsThroughRing, cancellationToken);
        // As the runtime's Socket.ConnectAsync does for a name: each of its addresses in turn, until one takes.
        var addresses = await Dns.GetHostAddressesAsync(dns.Host, cancellationToken);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            try
            {
                return await ConnectAsync(new IPEndPoint(address, dns.Port), loop, sendsThroughRing, cancellationToken);
            }
            catch (SocketException e)
            {
                last = e;
            }
        }
        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    private static async ValueTask<EpollStream> ConnectAsync(IPEndPoint endPoint, EpollLoop loop, bool sendsThroughRing, CancellationToken cancellationToken)
    {
        var tcp = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, Blocking = false };
        EpollSocket? socket = null;
        try
        {
            var connected = true;
            try
            {
                tcp.Connect(endPoint);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress or SocketError.AlreadyInProgress)
            {
                connected = false;
            }
            socket = new EpollSocket(tcp, loop, connected) { FailsAsStream = true, SendsThroughRing = sendsThroughRing };
            if (!connected)
            {
                try
                {
                    await WithCancellation(socket.SendAsync(ReadOnlyMemory<byte>.Empty), socket, cancellationToken);
                }
                catch (IOException e) when (e.InnerException is SocketException inner)
                {
                    throw inner;
                }
                var error = (SocketError)(int)tcp.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
                if (error != SocketError.Success) throw new SocketException((int)error);
            }
            return new EpollStream(socket);
        }
        catch
        {
            if (socket is not null) socket.Dispose();
            else tcp.Dispose();
            throw;
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        cancellationToken.CanBeCanceled ? WithCancellation(socket.ReceiveAsync(buffer), socket, cancellationToken) : socket.ReceiveAsync(buffer);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        cancellationToken.CanBeCanceled ? WithCancellation(socket.SendAsync(buffer), socket, cancellationToken) : socket.SendAsync(buffer);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Blocking calls wait for the loop's thread: never to be made on it (nothing on the request path makes them).
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) socket.Dispose();
        base.Dispose(disposing);
    }

    private static async ValueTask<int> WithCancellation(ValueTask<int> operation, EpollSocket socket, CancellationToken cancellationToken)
    {
        if (operation.IsCompleted) return operation.GetAwaiter().GetResult();
        await using var closeOnCancel = cancellationToken.UnsafeRegister(static s => ((EpollSocket)s!).Dispose(), socket);
        try
        {
            return await operation;
        }
        catch (IOException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    private static async ValueTask WithCancellation(ValueTask operation, EpollSocket socket, CancellationToken cancellationToken)
    {
        if (operation.IsCompleted)
        {
            operation.GetAwaiter().GetResult();
            return;
        }
        await using var closeOnCancel = cancellationToken.UnsafeRegister(static s => ((EpollSocket)s!).Dispose(), socket);
        try
        {
            await operation;
        }
        catch (IOException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }
}
