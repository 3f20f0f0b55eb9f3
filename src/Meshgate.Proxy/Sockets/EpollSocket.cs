using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Meshgate.Proxy.Sockets;

/// <summary>
/// A non-blocking socket served by an <see cref="EpollLoop"/>: one receive and one send at a time, each completing at
/// once when the socket can take it, else on the loop's thread when epoll says so.
///
/// The difference from the runtime's engine is when a receive makes its system call. The runtime tries every receive
/// at once and waits for epoll only after an EAGAIN, so every wait for a client's next request or an upstream's answer
/// costs a recv that finds nothing. Here, as in nginx, a recv that fills less than it was given is taken to have
/// drained the socket: the next receive waits for epoll's next edge without trying (edge-triggered epoll reports every
/// arrival of new bytes, so nothing is missed). A zero-byte receive is the wait alone.
///
/// The runtime's <see cref="Socket"/> keeps the descriptor (options, shutdown, close, endpoints); this class makes the
/// reads and writes, so the socket never enters the runtime's own engine.
/// </summary>
internal sealed unsafe class EpollSocket : IDisposable
{
    private readonly int _fd;
    private readonly EpollLoop _loop;
    private readonly int _slot;
    private readonly Lock _lock = new();
    private readonly Operation _receive = new();
    private readonly Operation _send = new();
    private bool _readable, _writable, _closed, _peerClosed;
    private Memory<byte> _receiveBuffer;
    // A reader waiting for the socket to become readable (WaitReadable), instead of a pending receive.
    private IReadableWaiter? _readableWaiter;
    // What the pending send has yet to send: a single buffer is a one-segment sequence, so both sends share one path.
    private ReadOnlySequence<byte> _sendSegments;
    // A send in the loop's ring (SendsThroughRing): its segments stay pinned, and its message and vectors in place, until
    // its completion; a close meanwhile waits for that completion before the descriptor goes.
    private bool _sendInRing;
    private SegmentHandles _ringHandles;
    private int _ringHandleCount;
    private RingMessage* _ringMessage;

    /// <param name="socket">Connected, or connecting (<paramref name="connected"/> false: the first send waits until it is).</param>
    public EpollSocket(Socket socket, EpollLoop loop, bool connected = true)
    {
        Socket = socket;
        socket.Blocking = false;
        _fd = (int)socket.Handle;
        _loop = loop;
        _readable = _writable = connected;
        Id = EpollLoop.NextId();
        _slot = loop.Register(this, _fd);
    }

    /// <summary>
    /// Failures come as a <see cref="NetworkStream"/>'s do (an IOException around the SocketException), for code that
    /// tells a reset connection from other errors that way (the direct path's stale-connection retry).
    /// </summary>
    public bool FailsAsStream { get; init; }

    /// <summary>
    /// Sends made on the loop's thread go through the loop's io_uring ring, all of a turn's with one system call at its end,
    /// instead of a <c>send</c> each (docs/sockets.md, "Sends through io_uring"). Such a send completes at the turn's end,
    /// never at once, and <see cref="TrySend"/> takes nothing that small (the caller writes to its pipe). Larger sends
    /// (<see cref="RingSendLimit"/>), sends where the ring is refused, and sends on another thread are system calls as before.
    /// </summary>
    public bool SendsThroughRing { get; init; }

    /// <summary>
    /// The largest send that goes through the ring (16 KiB). A larger one is a system call as on <c>sockets: epoll</c>: its
    /// copy, not the call, is most of its cost, and the kernel takes it at once instead of at the turn's end (a 64 KiB
    /// answer through the ring served 0.72× the requests/s of one sent at once, docs/performance.md).
    /// </summary>
    public int RingSendLimit { get; set; } = 16 * 1024;

    /// <summary>Tells this socket's events from a later one's on a reused slot.</summary>
    public uint Id { get; }

    public Socket Socket { get; }

    /// <summary>The loop that serves the socket's events (its completions run on that loop's thread).</summary>
    public EpollLoop Loop => _loop;

    /// <summary>
    /// The bytes read (0: the peer closed), at once when the socket has them, else once epoll says it has. An empty
    /// buffer waits until the socket is readable and returns 0 without reading.
    /// </summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        lock (_lock)
        {
            if (_closed) return ValueTask.FromException<int>(Failure(Closed(), reading: true));
            if (_readable)
            {
                if (buffer.IsEmpty) return new ValueTask<int>(0);
                var read = Receive(buffer.Span, out var errno);
                if (read >= 0) return new ValueTask<int>(read);
                if (errno != Libc.EAGAIN) return ValueTask.FromException<int>(Failure(Libc.Error(errno), reading: true));
            }
            _receiveBuffer = buffer;
            return new ValueTask<int>(_receive, _receive.Start());
        }
    }

    /// <summary>
    /// A receive that never waits: the bytes read, 0 when the peer closed, -1 when the socket has nothing now (then
    /// <see cref="ReceiveAsync"/> with an empty buffer waits for more).
    /// </summary>
    public int TryReceive(Span<byte> buffer)
    {
        lock (_lock)
        {
            if (_closed) throw Failure(Closed(), reading: true);
            if (!_readable) return -1;
            var read = Receive(buffer, out var errno);
            if (read >= 0) return read;
            return errno == Libc.EAGAIN ? -1 : throw Failure(Libc.Error(errno), reading: true);
        }
    }

    /// <summary>
    /// True when a receive would not wait now; otherwise false, and <paramref name="waiter"/> is called once, on the loop's
    /// thread, when the socket becomes readable (or is closed: its next receive then fails). The wait of
    /// <see cref="ReceiveAsync"/> with an empty buffer, for a reader that is not an async method: no state machine is
    /// resumed and no ValueTask completed per read.
    /// </summary>
    public bool WaitReadable(IReadableWaiter waiter)
    {
        lock (_lock)
        {
            if (_readable || _closed) return true;
            _readableWaiter = waiter;
            return false;
        }
    }

    /// <summary>Whether another receive would not wait: the last one filled its buffer (bytes may be left), or the peer closed.</summary>
    public bool Readable
    {
        get
        {
            lock (_lock) return _readable && !_closed;
        }
    }

    /// <summary>Sends all of <paramref name="buffer"/>: at once when the socket takes it, else as epoll makes room. Empty: waits until writable (a connect's end).</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> buffer) => SendAsync(new ReadOnlySequence<byte>(buffer));

    /// <summary>
    /// Sends all of <paramref name="buffers"/>, many segments to one sendmsg (a pipe's 4 KiB blocks: a 64 KiB answer is
    /// one system call, not sixteen).
    /// </summary>
    public ValueTask SendAsync(ReadOnlySequence<byte> buffers)
    {
        lock (_lock)
        {
            if (_closed) return ValueTask.FromException(Failure(Closed(), reading: false));
            _sendSegments = buffers;
            if (SendsThroughRing && !buffers.IsEmpty && buffers.Length <= RingSendLimit && _loop.IsCurrent && _loop.Ring is { } ring && QueueRingSend(ring))
            {
                return new ValueTask(_send, _send.Start());
            }
            if (_writable)
            {
                var errno = SendPending();
                if (errno == 0)
                {
                    _sendSegments = default;
                    return ValueTask.CompletedTask;
                }
                if (errno != Libc.EAGAIN) return ValueTask.FromException(Failure(Libc.Error(errno), reading: false));
            }
            return new ValueTask(_send, _send.Start());
        }
    }

    /// <summary>
    /// Sends what the socket takes now of <paramref name="first"/> and then <paramref name="second"/> (one send, or one
    /// sendmsg for both), never waiting: the bytes it took. 0 when it takes none now, while a send is pending, or when the
    /// call fails: a send of the rest through <see cref="SendAsync(ReadOnlySequence{byte})"/> then waits or fails as usual.
    /// </summary>
    public int TrySend(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        // A small answer goes through the pipe to the ring; a large one straight to the socket (RingSendLimit).
        if (SendsThroughRing && first.Length + second.Length <= RingSendLimit) return 0;
        lock (_lock)
        {
            if (_closed || !_writable || _send.Pending) return 0;
            var sent = SendOnce(first, second);
            // The socket's buffer is full: the next send waits for epoll's edge rather than try again for an EAGAIN.
            if (sent == -Libc.EAGAIN || (sent >= 0 && sent < first.Length + second.Length)) _writable = false;
            return sent < 0 ? 0 : (int)sent;
        }
    }

    /// <summary>
    /// One send of <paramref name="first"/>, or one sendmsg of it and <paramref name="second"/> (under the lock): what it
    /// took, or the negated errno.
    /// </summary>
    private nint SendOnce(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        nint sent;
        fixed (byte* a = first)
        fixed (byte* b = second)
        {
            if (second.IsEmpty) sent = Libc.send(_fd, a, first.Length, Libc.MSG_NOSIGNAL);
            else
            {
                var vectors = stackalloc Libc.IoVector[2];
                vectors[0] = new Libc.IoVector { Base = a, Length = first.Length };
                vectors[1] = new Libc.IoVector { Base = b, Length = second.Length };
                var message = new Libc.MessageHeader { Vectors = vectors, VectorCount = 2 };
                sent = Libc.sendmsg(_fd, &message, Libc.MSG_NOSIGNAL);
            }
        }
        return sent >= 0 ? sent : -Libc.Errno();
    }

    /// <summary>Called by the loop's thread with the events epoll reported; completes what they let complete.</summary>
    public void OnEvents(uint events)
    {
        int received = 0;
        Exception? receiveError = null, sendError = null;
        bool completeReceive = false, completeSend = false;
        IReadableWaiter? readable = null;
        lock (_lock)
        {
            if (_closed) return;
            if ((events & (Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
            {
                _readable = true;
                // The peer's FIN is behind whatever bytes are left: no edge will come for it after a short read (nginx's pending_eof).
                if ((events & (Libc.EPOLLRDHUP | Libc.EPOLLHUP | Libc.EPOLLERR)) != 0) _peerClosed = true;
                readable = _readableWaiter;
                _readableWaiter = null;
                if (_receive.Pending)
                {
                    if (_receiveBuffer.IsEmpty) completeReceive = true;
                    else
                    {
                        received = Receive(_receiveBuffer.Span, out var errno);
                        if (received >= 0) completeReceive = true;
                        else if (errno != Libc.EAGAIN) (completeReceive, receiveError) = (true, Failure(Libc.Error(errno), reading: true));
                    }
                    if (completeReceive)
                    {
                        _receive.Pending = false;
                        _receiveBuffer = default;
                    }
                }
            }
            if ((events & (Libc.EPOLLOUT | Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
            {
                _writable = true;
                // A send in the ring is the ring's to finish.
                if (_send.Pending && !_sendInRing)
                {
                    var errno = SendPending();
                    if (errno == 0) completeSend = true;
                    else if (errno != Libc.EAGAIN) (completeSend, sendError) = (true, Failure(Libc.Error(errno), reading: false));
                    if (completeSend)
                    {
                        _send.Pending = false;
                        _sendSegments = default;
                    }
                }
            }
        }
        // Outside the lock: the continuations run here, inline, and start the next receive or send.
        readable?.OnReadable();
        if (completeReceive) _receive.Complete(received, receiveError);
        if (completeSend) _send.Complete(0, sendError);
    }

    /// <summary>
    /// Closes the socket; a pending receive or send ends with <see cref="SocketError.OperationAborted"/>. A send in the ring
    /// ends when its completion comes (the socket is shut down, so it comes at once): only then is the descriptor closed
    /// and the send's memory let go, so the kernel never sends from memory handed back.
    /// </summary>
    public void Dispose()
    {
        bool receivePending, sendPending;
        IReadableWaiter? readable;
        lock (_lock)
        {
            if (_closed) return;
            _closed = true;
            receivePending = _receive.Pending;
            readable = _readableWaiter;
            _readableWaiter = null;
            _receive.Pending = false;
            _receiveBuffer = default;
            _loop.StopEvents(_fd);
            if (_sendInRing)
            {
                sendPending = false;
                try
                {
                    Socket.Shutdown(SocketShutdown.Both);
                }
                catch (SocketException)
                {
                }
            }
            else
            {
                sendPending = _send.Pending;
                _send.Pending = false;
                _sendSegments = default;
                CloseDescriptor();
            }
        }
        if (receivePending) _receive.Complete(0, Failure(Closed(), reading: true));
        readable?.OnReadable();
        if (sendPending) _send.Complete(0, Failure(Closed(), reading: false));
    }

    /// <summary>
    /// Queues what is left of the pending send in the ring (under the lock, on the loop's thread): one send for one
    /// segment, else one sendmsg of up to 64. False when the ring is full: the send is then made the usual way.
    /// </summary>
    private bool QueueRingSend(SendRing ring)
    {
        var userData = EpollLoop.EventData(Id, _slot);
        if (_sendSegments.IsSingleSegment)
        {
            var memory = _sendSegments.First;
            _ringHandles[0] = memory.Pin();
            _ringHandleCount = 1;
            if (ring.TryQueueSend(_fd, (byte*)_ringHandles[0].Pointer, memory.Length, userData)) return _sendInRing = true;
        }
        else
        {
            if (_ringMessage is null) _ringMessage = (RingMessage*)NativeMemory.AllocZeroed((nuint)sizeof(RingMessage));
            var vectors = (Libc.IoVector*)&_ringMessage->Vectors;
            var count = Gather(ref _ringHandles, vectors, out _);
            _ringHandleCount = count;
            _ringMessage->Header = new Libc.MessageHeader { Vectors = vectors, VectorCount = count };
            if (ring.TryQueueSendMessage(_fd, &_ringMessage->Header, userData)) return _sendInRing = true;
        }
        ReleaseRingHandles();
        return false;
    }

    /// <summary>
    /// The completion of the send in the ring (on the loop's thread): the bytes it took, or the negated errno. The rest of
    /// the send goes in again; a socket closed meanwhile is closed now and its send ends as aborted.
    /// </summary>
    public void OnRingSent(int result)
    {
        Exception? error = null;
        bool complete;
        lock (_lock)
        {
            _sendInRing = false;
            ReleaseRingHandles();
            if (_closed)
            {
                CloseDescriptor();
                error = Failure(Closed(), reading: false);
                complete = true;
            }
            else if (result < 0)
            {
                error = Failure(Libc.Error(-result), reading: false);
                complete = true;
            }
            else
            {
                _sendSegments = _sendSegments.Slice(result);
                complete = _sendSegments.IsEmpty;
                if (!complete && !(_loop.Ring is { } ring && QueueRingSend(ring)))
                {
                    // The ring is full: the rest goes the usual way, now or when epoll says there is room.
                    var errno = _writable ? SendPending() : Libc.EAGAIN;
                    if (errno == 0) complete = true;
                    else if (errno != Libc.EAGAIN) (complete, error) = (true, Failure(Libc.Error(errno), reading: false));
                }
            }
            if (complete)
            {
                _send.Pending = false;
                _sendSegments = default;
            }
        }
        if (complete) _send.Complete(0, error);
    }

    private void ReleaseRingHandles()
    {
        for (var i = 0; i < _ringHandleCount; i++) _ringHandles[i].Dispose();
        _ringHandleCount = 0;
    }

    /// <summary>
    /// The end of a close (under the lock, its events already stopped): the slot freed for another socket, the descriptor
    /// closed, the ring's message memory freed. Once no send is in the ring: at once, or at the send's completion.
    /// </summary>
    private void CloseDescriptor()
    {
        _loop.Release(_slot);
        Socket.Dispose();
        if (_ringMessage is null) return;
        NativeMemory.Free(_ringMessage);
        _ringMessage = null;
    }

    private static SocketException Closed() => new((int)SocketError.OperationAborted);

    private Exception Failure(SocketException e, bool reading) => !FailsAsStream ? e
        : new IOException($"Unable to {(reading ? "read data from" : "write data to")} the transport connection: {e.Message}.", e);

    /// <summary>
    /// One recv (under the lock): a short read marks the socket drained, unless the peer has closed (then the next recv
    /// returns its end at once); -1 with errno on failure.
    /// </summary>
    private int Receive(Span<byte> buffer, out int errno)
    {
        nint read;
        fixed (byte* bytes = buffer) read = Libc.recv(_fd, bytes, buffer.Length, 0);
        if (read >= 0)
        {
            errno = 0;
            if (read < buffer.Length && read > 0 && !_peerClosed) _readable = false;
            return (int)read;
        }
        errno = Libc.Errno();
        if (errno == Libc.EAGAIN) _readable = false;
        return -1;
    }

    /// <summary>
    /// Sends what is left of the pending send (under the lock), sliced by what each call takes: 0 when all is sent, else
    /// the errno that stopped it.
    /// </summary>
    private int SendPending()
    {
        while (!_sendSegments.IsEmpty)
        {
            nint offered, sent;
            if (_sendSegments.IsSingleSegment)
            {
                // One block (a stream's write, or a sequence's last one): send, with no vectors to build and no handles to take.
                var span = _sendSegments.FirstSpan;
                offered = span.Length;
                sent = SendOnce(span, default);
            }
            else sent = SendGathered(out offered);
            if (sent < 0)
            {
                var errno = (int)-sent;
                if (errno == Libc.EAGAIN) _writable = false;
                return errno;
            }
            _sendSegments = _sendSegments.Slice(sent);
            if (sent < offered)
            {
                // The socket's buffer is full: wait for epoll's edge rather than try again for an EAGAIN.
                _writable = false;
                return Libc.EAGAIN;
            }
        }
        return 0;
    }

    /// <summary>
    /// One sendmsg of the pending send's first 64 non-empty segments (<paramref name="offered"/> bytes): what it took, or
    /// the negated errno (read before the handles are released, which could run code that sets errno).
    /// </summary>
    private nint SendGathered(out nint offered)
    {
        var vectors = stackalloc Libc.IoVector[SegmentHandles.Length];
        var handles = default(SegmentHandles);
        // Pinned for the call only.
        var count = Gather(ref handles, vectors, out offered);
        try
        {
            var message = new Libc.MessageHeader { Vectors = vectors, VectorCount = count };
            var sent = Libc.sendmsg(_fd, &message, Libc.MSG_NOSIGNAL);
            return sent >= 0 ? sent : -Libc.Errno();
        }
        finally
        {
            for (var i = 0; i < count; i++) handles[i].Dispose();
        }
    }

    /// <summary>
    /// Pins the pending send's first 64 non-empty segments into <paramref name="handles"/> and describes them in
    /// <paramref name="vectors"/>: how many, and their bytes in <paramref name="offered"/>. The pool's blocks are pinned
    /// already, and then this takes no GC handle.
    /// </summary>
    private int Gather(ref SegmentHandles handles, Libc.IoVector* vectors, out nint offered)
    {
        var count = 0;
        offered = 0;
        foreach (var segment in _sendSegments)
        {
            if (segment.IsEmpty) continue;
            if (count == SegmentHandles.Length) break;
            handles[count] = segment.Pin();
            vectors[count] = new Libc.IoVector { Base = handles[count].Pointer, Length = segment.Length };
            offered += segment.Length;
            count++;
        }
        return count;
    }

    [InlineArray(Length)]
    private struct SegmentHandles
    {
        public const int Length = 64;
        private MemoryHandle _first;
    }

    /// <summary>A ring sendmsg's message and vectors: native memory, since the kernel reads them after the call that queued them.</summary>
    private struct RingMessage
    {
        public Libc.MessageHeader Header;
        public IoVectors Vectors;
    }

    [InlineArray(SegmentHandles.Length)]
    private struct IoVectors
    {
        private Libc.IoVector _first;
    }

    /// <summary>One receive's or send's completion, reused for every one on the socket.</summary>
    private sealed class Operation : IValueTaskSource<int>, IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<int> _core;

        public bool Pending { get; set; }

        /// <summary>Makes the operation pending; the token for its ValueTask.</summary>
        public short Start()
        {
            _core.Reset();
            Pending = true;
            return _core.Version;
        }

        public void Complete(int result, Exception? error)
        {
            if (error is null) _core.SetResult(result);
            else _core.SetException(error);
        }

        public int GetResult(short token) => _core.GetResult(token);

        void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}

/// <summary>What waits for an <see cref="EpollSocket"/> to become readable (<see cref="EpollSocket.WaitReadable"/>).</summary>
internal interface IReadableWaiter
{
    /// <summary>The socket is readable, or closed; called once per wait, on the loop's thread (or the closing one).</summary>
    void OnReadable();
}
