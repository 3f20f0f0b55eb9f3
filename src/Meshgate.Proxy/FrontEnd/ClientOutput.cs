using System.Buffers;
using System.IO.Pipelines;
using Meshgate.Proxy.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Meshgate.Proxy.FrontEnd;

/// <summary>
/// Where a front-end connection's answers go. On the epoll engine without TLS they go straight to the socket, as nginx
/// writes to its sockets, while nothing written before still waits in the transport's output pipe: no pipe memory, flush
/// or wake of the transport's send loop per answer. What the socket does not take at once goes into the pipe, whose send
/// loop sends it as the client reads, with the pipe's limit holding the writer back at the flush, as for any other
/// connection. Everything else (TLS, .NET's sockets) writes to the pipe only.
/// </summary>
internal sealed class ClientOutput
{
    private readonly PipeWriter _pipe;
    private readonly EpollConnection? _socket;
    // Bytes this output has put into the pipe: once the send loop has sent as many, the pipe holds none of ours.
    private long _queued;
    private bool _unflushed;

    public ClientOutput(ConnectionContext connection)
    {
        _pipe = connection.Transport.Output;
        // Not when a layer (TLS) replaced the transport: its bytes are not the socket's.
        _socket = connection.Features.Get<IConnectionTransportFeature>() is EpollConnection epoll && ReferenceEquals(epoll.SocketOutput, _pipe) ? epoll : null;
    }

    /// <summary>Whether answers can go straight to the socket (the epoll engine, no TLS).</summary>
    public bool SendsDirectly => _socket is not null;

    /// <summary>Writes <paramref name="first"/> then <paramref name="second"/>: to the socket when it takes them now, the rest into the pipe (then <see cref="FlushAsync"/> sends it).</summary>
    public void Write(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second = default)
    {
        // Behind bytes of ours the send loop has yet to send, these go through the pipe too: on the loop's thread the loop
        // has always sent or is waiting to send (then the socket refuses TrySend), but a first request is served on the
        // thread pool, where the loop can be between two of its sends.
        if (_socket is not null && _socket.PipeBytesSent == _queued)
        {
            var sent = _socket.TrySend(first, second);
            if (sent >= first.Length)
            {
                second = second[(sent - first.Length)..];
                first = default;
            }
            else first = first[sent..];
            if (first.IsEmpty && second.IsEmpty) return;
        }
        if (!first.IsEmpty) _pipe.Write(first);
        if (!second.IsEmpty) _pipe.Write(second);
        _queued += first.Length + second.Length;
        _unflushed = true;
    }

    /// <summary>Flushes what went into the pipe; at once when everything went to the socket.</summary>
    public ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken)
    {
        if (!_unflushed) return default;
        _unflushed = false;
        return _pipe.FlushAsync(cancellationToken);
    }
}
