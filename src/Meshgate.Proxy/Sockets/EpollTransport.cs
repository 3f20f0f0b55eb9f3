using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Sockets;

/// <summary>
/// Kestrel's transport on the epoll engine (sockets: epoll): binds IP listeners and gives Kestrel each accepted
/// connection as pipes filled and drained by an <see cref="EpollSocket"/>. Everything above the transport (TLS, the
/// direct front end, Kestrel's HTTP layer) is unchanged. Accepting stays with the runtime's sockets (a listener's
/// wakeups are per connection, not per request); each accepted socket goes to the next loop in turn.
/// </summary>
public sealed class EpollTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly MemoryPool<byte>[] _pools;
    private readonly bool _sendsThroughRing;

    /// <param name="pools">
    /// Kestrel's pool factory: blocks of 4 KiB, pinned, kept however many connections hold one at once. The shared
    /// array pool keeps 32 arrays of a size per core, and the front end holds a connection's request block until the
    /// answer is sent, so at 64 connections half its rents would allocate (as the upstream reader's did, docs/performance.md).
    /// One pool per loop, as Kestrel's socket transport has one per I/O queue: a loop's connections rent and return their
    /// blocks on its own thread, so the pool's queue is not passed between cores for every request.
    /// </param>
    /// <param name="sendsThroughRing">The accepted connections send through their loop's io_uring ring (<see cref="EpollSocket.SendsThroughRing"/>).</param>
    public EpollTransportFactory(ILoggerFactory logs, IMemoryPoolFactory<byte>? pools = null, bool sendsThroughRing = false)
    {
        _sendsThroughRing = sendsThroughRing;
        EpollLoop.Logger = logs.CreateLogger("Meshgate.Sockets");
        _pools = new MemoryPool<byte>[EpollLoop.Count];
        for (var i = 0; i < _pools.Length; i++) _pools[i] = pools?.Create(new MemoryPoolOptions { Owner = "epoll" }) ?? MemoryPool<byte>.Shared;
    }

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not IPEndPoint ip) throw new NotSupportedException($"The epoll transport binds IP endpoints only, not {endpoint}.");
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (ip.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.Bind(ip);
            socket.Listen(512);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new AddressInUseException(e.Message, e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new ValueTask<IConnectionListener>(new EpollConnectionListener(socket, _pools, _sendsThroughRing));
    }
}

internal sealed class EpollConnectionListener(Socket listener, MemoryPool<byte>[] pools, bool sendsThroughRing) : IConnectionListener
{
    public EndPoint EndPoint { get; } = listener.LocalEndPoint!;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(cancellationToken);
            }
            catch (ObjectDisposedException)
            {
                return null; // unbound
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
            {
                return null;
            }
            catch (SocketException)
            {
                continue; // reset before it was accepted, as Kestrel's own transport goes on
            }
            try
            {
                accepted.NoDelay = true;
                var loop = EpollLoop.Pick();
                var connection = new EpollConnection(new EpollSocket(accepted, loop) { SendsThroughRing = sendsThroughRing }, pools[loop.Index]);
                connection.Start();
                return connection;
            }
            catch (SocketException)
            {
                accepted.Dispose();
            }
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        listener.Dispose();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        listener.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// One accepted connection: a receive loop that fills the input pipe with all a readiness edge brought, then flushes
/// once, and a send loop that drains the output pipe. Both pipes run their continuations inline, so a request is read,
/// served and answered on the loop's thread within one event, as Kestrel's sockets do with inline scheduling.
/// </summary>
internal sealed class EpollConnection : ConnectionContext, IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, IMemoryPoolFeature, IReadableWaiter
{
    private const int MaxUnflushed = 64 * 1024;
    private static long s_ids;
    private readonly EpollSocket _socket;
    private readonly long _idNumber;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly CancellationTokenSource _closed = new();
    private readonly Lock _shutdownLock = new();
    private Exception? _shutdownReason;
    private bool _shutDown;
    // The receive side ends once: then the input pipe is complete and this task too.
    private readonly TaskCompletionSource _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // The input pipe's flush the receive side waits for (the reader is behind), and what resumes it after.
    private ValueTask<FlushResult> _flush;
    private readonly Action _afterFlush;
    private Task _sending = Task.CompletedTask;
    private string? _id;
    private IDictionary<object, object?>? _items;
    // Written by the send loop only; read by a writer that sends straight to the socket (TrySend).
    private long _pipeBytesSent;

    public EpollConnection(EpollSocket socket, MemoryPool<byte> pool)
    {
        _socket = socket;
        MemoryPool = pool;
        // Kestrel's defaults for its request and response buffers (MaxRequestBufferSize 1 MB, MaxResponseBufferSize 64 KB).
        _input = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline,
            pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, minimumSegmentSize: 4096, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline,
            pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024, minimumSegmentSize: 4096, useSynchronizationContext: false));
        _afterFlush = AfterFlush;
        _idNumber = Interlocked.Increment(ref s_ids);
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        LocalEndPoint = socket.Socket.LocalEndPoint;
        RemoteEndPoint = socket.Socket.RemoteEndPoint;
        Features = new FeatureCollection();
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        Features.Set<IMemoryPoolFeature>(this);
    }

    // Fixed width (13 characters, as Kestrel's own ids): the request ids made from it, and the problem answers that carry
    // them, have one length however many connections came before.
    public override string ConnectionId
    {
        get => _id ??= $"E{_idNumber:X12}";
        set => _id = value;
    }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new ConnectionItems();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException();
    }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public MemoryPool<byte> MemoryPool { get; }

    /// <summary>The loop that serves the connection: the direct path's upstream connections for its requests are made on it.</summary>
    public EpollLoop Loop => _socket.Loop;

    /// <summary>The output pipe's writer as the transport made it: a layer that replaced the transport (TLS) writes elsewhere.</summary>
    public PipeWriter SocketOutput => _output.Writer;

    /// <summary>Bytes the send loop has passed from the output pipe to the socket so far.</summary>
    public long PipeBytesSent => Volatile.Read(ref _pipeBytesSent);

    /// <summary>
    /// Sends straight to the socket what it takes now of <paramref name="first"/> and then <paramref name="second"/>,
    /// never waiting: the bytes it took. 0 when it takes none now or has failed: the caller then writes the rest to the
    /// output pipe, whose send loop waits for room or meets the error as for any other bytes. Only for a writer whose
    /// earlier bytes in the pipe are all sent (<see cref="PipeBytesSent"/>), so these cannot overtake them.
    /// </summary>
    public int TrySend(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) => _socket.TrySend(first, second);

    public void Start()
    {
        Receive();
        _sending = SendAsync();
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        // As Kestrel's socket transport: stop sending (the send loop then closes the socket, which ends the receive loop).
        Shutdown(abortReason);
        _output.Reader.CancelPendingRead();
    }

    public override async ValueTask DisposeAsync()
    {
        _input.Reader.Complete();
        _output.Writer.Complete();
        await _received.Task;
        await _sending;
        _closed.Dispose();
    }

    /// <summary>
    /// Reads what the socket has into the input pipe and flushes it, until the socket has no more; then waits for epoll's
    /// next edge (<see cref="OnReadable"/>), or for the reader when the pipe is full (<see cref="AfterFlush"/>). Not an
    /// async method: a read resumes no state machine of its own, only the pipe's reader. One runs at a time: each of the
    /// two waits resumes it once, and nothing here runs after a wait is registered.
    /// </summary>
    private void Receive()
    {
        var writer = _input.Writer;
        try
        {
            while (true)
            {
                // The wait alone: no buffer is held while the client thinks, and no recv is made until epoll says so.
                if (!_socket.WaitReadable(this)) return;
                var received = 0;
                // All the edge brought, but no more than MaxUnflushed before the reader sees it: a client that sends
                // faster than the gateway forwards is held back by the pipe's limit at the flush, not read into memory.
                while (received < MaxUnflushed)
                {
                    var read = _socket.TryReceive(writer.GetMemory().Span);
                    if (read < 0) break;
                    if (read == 0)
                    {
                        // The client's FIN, after what came before it.
                        if (received > 0) _ = writer.FlushAsync();
                        EndReceiving(null);
                        return;
                    }
                    writer.Advance(read);
                    received += read;
                    if (!_socket.Readable) break;
                }
                if (received == 0) continue;
                var flush = writer.FlushAsync();
                if (!flush.IsCompleted)
                {
                    _flush = flush;
                    flush.GetAwaiter().UnsafeOnCompleted(_afterFlush);
                    return;
                }
                if (Ended(flush.GetAwaiter().GetResult())) return;
            }
        }
        catch (Exception e)
        {
            EndReceiving(e);
        }
    }

    void IReadableWaiter.OnReadable() => Receive();

    /// <summary>The reader has taken enough of a full pipe: reading goes on, unless it has stopped reading altogether.</summary>
    private void AfterFlush()
    {
        try
        {
            var flush = _flush;
            _flush = default;
            if (Ended(flush.GetAwaiter().GetResult())) return;
        }
        catch (Exception e)
        {
            EndReceiving(e);
            return;
        }
        Receive();
    }

    /// <summary>Whether a flush says the reader is gone (completed or cancelled): the receive side then ends.</summary>
    private bool Ended(FlushResult flush)
    {
        if (!flush.IsCompleted && !flush.IsCanceled) return false;
        EndReceiving(null);
        return true;
    }

    /// <summary>The receive side's end: the input pipe completes with the reason (the shutdown's, if any), and ConnectionClosed fires.</summary>
    private void EndReceiving(Exception? error)
    {
        if (error is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted } reset)
        {
            error = new ConnectionResetException(reset.Message, reset);
        }
        lock (_shutdownLock) error = _shutdownReason ?? error;
        _input.Writer.Complete(error);
        // Off the loop's thread, as Kestrel's transport does: what listens to it (the request's abort) may do much.
        ThreadPool.UnsafeQueueUserWorkItem(static c => c.CancelClosed(), this, preferLocal: false);
        _received.TrySetResult();
    }

    private void CancelClosed()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task SendAsync()
    {
        Exception? error = null;
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                if (result.IsCanceled) break;
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    await _socket.SendAsync(buffer);
                    Volatile.Write(ref _pipeBytesSent, _pipeBytesSent + buffer.Length);
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            Shutdown(error);
            reader.Complete(error);
        }
    }

    /// <summary>Closes the socket once, for the first reason given (the receive loop then ends with it).</summary>
    private void Shutdown(Exception? reason)
    {
        lock (_shutdownLock)
        {
            if (_shutDown) return;
            _shutDown = true;
            _shutdownReason = reason ?? new ConnectionAbortedException("The connection was closed by the application.");
        }
        try
        {
            // Gracefully, as Kestrel's transport does even for aborts: what was sent arrives before the FIN.
            _socket.Socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }
}
