using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

// The `epoll` mode: the floor below the runtime's socket engine. One thread per core runs its own edge-triggered epoll
// loop over non-blocking sockets, the way nginx's worker does: a read that returns less than it asked for is taken to
// have drained the socket, so the next read waits for epoll's next edge instead of trying first and getting EAGAIN.
// The runtime's engine (and so Kestrel and every async Socket call) tries every receive before it waits: one
// EAGAIN per wait, which on this machine's virtualised system calls is the cost this mode measures.
// Each client connection has its own upstream connection; requests are relayed as they are, answers by Content-Length.
// The `epoll-batched-sends` mode keeps epoll and recv but queues each send in an io_uring ring, submitted once at the
// end of the loop's turn: half of the `uring` mode's batching, the half an epoll engine could take on alone.
static unsafe class EpollForwarder
{
    const uint EPOLLIN = 0x1, EPOLLOUT = 0x4, EPOLLERR = 0x8, EPOLLHUP = 0x10, EPOLLRDHUP = 0x2000, EPOLLET = 0x80000000;
    const int EPOLL_CTL_ADD = 1, EAGAIN = 11, EINTR = 4, SOCK_NONBLOCK = 0x800, MSG_NOSIGNAL = 0x4000;
    const int IPPROTO_TCP = 6, TCP_NODELAY = 1;

    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [DllImport("libc", SetLastError = true)] static extern int epoll_create1(int flags);
    [DllImport("libc", SetLastError = true)] static extern int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);
    [DllImport("libc", SetLastError = true)] static extern int epoll_wait(int epfd, EpollEvent* events, int max, int timeout);
    [DllImport("libc", SetLastError = true)] static extern nint recv(int fd, byte* buffer, nint length, int flags);
    [DllImport("libc", SetLastError = true)] static extern nint send(int fd, byte* buffer, nint length, int flags);
    [DllImport("libc", SetLastError = true)] static extern int accept4(int fd, void* address, void* length, int flags);
    [DllImport("libc", SetLastError = true)] static extern int setsockopt(int fd, int level, int name, int* value, int length);
    [DllImport("libc")] static extern int close(int fd);

    public static void Run(int listenPort, IPEndPoint upstream, bool batchSends = false) =>
        RunLoops(listenPort, "epoll loop", listener =>
        {
            listener.Blocking = false;
            return new Loop(listener, upstream, batchSends).Run;
        });

    // A thread per core, each running the loop made for its own listener: one per loop (SO_REUSEPORT), so the kernel
    // spreads the connections, as nginx's reuseport does.
    internal static void RunLoops(int listenPort, string name, Func<Socket, ThreadStart> loop)
    {
        var threads = new Thread[Environment.ProcessorCount];
        for (var i = 0; i < threads.Length; i++)
        {
            var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.SetRawSocketOption(1, 15, BitConverter.GetBytes(1)); // SOL_SOCKET, SO_REUSEPORT
            listener.Bind(new IPEndPoint(IPAddress.Loopback, listenPort));
            listener.Listen(1024);
            threads[i] = new Thread(loop(listener)) { Name = $"{name} {i}" };
            threads[i].Start();
        }
        foreach (var thread in threads)
        {
            thread.Join();
        }
    }

    sealed class Loop(Socket listener, IPEndPoint upstream, bool batchSends)
    {
        const ulong ListenerToken = ulong.MaxValue, RingToken = ulong.MaxValue - 1;
        readonly int _epoll = epoll_create1(0);
        readonly List<Pair?> _pairs = [];
        UringForwarder.Ring? _ring;
        Action<ulong, int>? _sent;

        public void Run()
        {
            var listenFd = (int)listener.Handle;
            Add(listenFd, EPOLLIN, ListenerToken);
            if (batchSends)
            {
                // Made on the loop's thread. Its descriptor is in the epoll set: a send that waited for room completes later.
                _ring = new UringForwarder.Ring(4096, deferTaskRun: false);
                _sent = Sent;
                Add(_ring.Fd, EPOLLIN | EPOLLET, RingToken);
            }
            var events = stackalloc EpollEvent[256];
            while (true)
            {
                var count = epoll_wait(_epoll, events, 256, -1);
                if (count < 0)
                {
                    if (Marshal.GetLastPInvokeError() == EINTR) continue;
                    throw new InvalidOperationException($"epoll_wait: errno {Marshal.GetLastPInvokeError()}");
                }
                for (var i = 0; i < count; i++)
                {
                    var token = events[i].Data;
                    if (token == ListenerToken)
                    {
                        Accept(listenFd);
                        continue;
                    }
                    if (token == RingToken)
                    {
                        _ring!.Drain(_sent!);
                        continue;
                    }
                    var pair = _pairs[(int)(token >> 1)];
                    if (pair is null) continue;
                    if (!pair.OnEvent(upstreamSide: (token & 1) == 1, events[i].Events))
                    {
                        pair.Close();
                        _pairs[(int)(token >> 1)] = null;
                    }
                }
                // The turn's sends, in one system call; what they complete may queue more.
                while (_ring is { Queued: > 0 })
                {
                    _ring.Submit();
                    _ring.Drain(_sent!);
                }
            }
        }

        void Sent(ulong token, int result)
        {
            var pair = _pairs[(int)(token >> 1)];
            if (pair is null) return;
            if (!pair.OnSent(result))
            {
                pair.Close();
                _pairs[(int)(token >> 1)] = null;
            }
        }

        void Add(int fd, uint events, ulong token)
        {
            var ev = new EpollEvent { Events = events, Data = token };
            if (epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev) != 0)
                throw new InvalidOperationException($"epoll_ctl: errno {Marshal.GetLastPInvokeError()}");
        }

        void Accept(int listenFd)
        {
            while (true)
            {
                var fd = accept4(listenFd, null, null, SOCK_NONBLOCK);
                if (fd < 0) return; // EAGAIN: the backlog is empty
                var one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));
                var upstreamSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                upstreamSocket.Connect(upstream);
                upstreamSocket.Blocking = false;
                var index = _pairs.Count;
                _pairs.Add(new Pair(fd, upstreamSocket, _ring, (ulong)index << 1));
                Add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, (ulong)index << 1);
                Add((int)upstreamSocket.Handle, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, ((ulong)index << 1) | 1);
            }
        }
    }

    // One client connection and its upstream connection, relaying one exchange at a time.
    sealed class Pair(int clientFd, Socket upstreamSocket, UringForwarder.Ring? ring, ulong token)
    {
        const byte IORING_OP_SEND = 26;
        readonly int _upstreamFd = (int)upstreamSocket.Handle;
        readonly byte[] _buffer = GC.AllocateArray<byte>(64 * 1024, pinned: true);
        bool _clientReadable = true, _upstreamReadable = true, _clientWritable = true, _upstreamWritable = true;
        bool _awaitingAnswer;
        bool _sending;          // a send is in the ring: nothing else moves until it completes
        int _filled;            // bytes in the buffer: the request being read, or the answer's bytes not yet sent
        int _sent;              // of those, already sent on
        long _answerRemaining;  // answer bytes still to come from upstream (-1: head not complete)

        public bool OnEvent(bool upstreamSide, uint events)
        {
            if ((events & (EPOLLERR | EPOLLHUP)) != 0) return false;
            if (upstreamSide)
            {
                if ((events & (EPOLLIN | EPOLLRDHUP)) != 0) _upstreamReadable = true;
                if ((events & EPOLLOUT) != 0) _upstreamWritable = true;
            }
            else
            {
                if ((events & (EPOLLIN | EPOLLRDHUP)) != 0) _clientReadable = true;
                if ((events & EPOLLOUT) != 0) _clientWritable = true;
            }
            return Advance();
        }

        // The ring's result for the send queued last; false when the pair is done.
        public bool OnSent(int result)
        {
            _sending = false;
            if (result < 0) return false;
            _sent += result;
            if (_sent < _filled) return Advance();
            _filled = _sent = 0;
            if (!_awaitingAnswer)
            {
                _awaitingAnswer = true;
                _answerRemaining = -1;
            }
            else if (_answerRemaining == 0)
            {
                _awaitingAnswer = false;
            }
            return Advance();
        }

        // Does all the work the sockets' readiness allows; false when the pair is done.
        bool Advance()
        {
            if (_sending) return true;
            fixed (byte* buffer = _buffer)
            {
                while (true)
                {
                    if (!_awaitingAnswer)
                    {
                        if (_sent < _filled)
                        {
                            // The request, being sent upstream.
                            if (ring is not null)
                            {
                                _sending = true;
                                ring.Queue(IORING_OP_SEND, _upstreamFd, buffer + _sent, _filled - _sent, MSG_NOSIGNAL, token | 1);
                                return true;
                            }
                            if (!_upstreamWritable) return true;
                            if (!Send(_upstreamFd, buffer + _sent, _filled - _sent, ref _upstreamWritable, out var sent)) return false;
                            _sent += sent;
                            if (_sent < _filled) return true;
                            _awaitingAnswer = true;
                            _filled = _sent = 0;
                            _answerRemaining = -1;
                            continue;
                        }
                        if (!_clientReadable) return true;
                        if (!Receive(clientFd, buffer + _filled, _buffer.Length - _filled, ref _clientReadable, out var read)) return false;
                        if (read == 0) return true;
                        _filled += read;
                        var head = Http1.HeadLength(_buffer.AsSpan(0, _filled));
                        if (head < 0) continue;
                        if (head != _filled || Http1.ContentLength(_buffer.AsSpan(0, head)) != 0) return false; // GETs only
                        _sent = 0;
                        continue;
                    }
                    if (_sent < _filled)
                    {
                        // Answer bytes, being sent to the client.
                        if (ring is not null)
                        {
                            _sending = true;
                            ring.Queue(IORING_OP_SEND, clientFd, buffer + _sent, _filled - _sent, MSG_NOSIGNAL, token);
                            return true;
                        }
                        if (!_clientWritable) return true;
                        if (!Send(clientFd, buffer + _sent, _filled - _sent, ref _clientWritable, out var sent)) return false;
                        _sent += sent;
                        if (_sent < _filled) return true;
                        _filled = _sent = 0;
                        if (_answerRemaining == 0)
                        {
                            _awaitingAnswer = false;
                        }
                        continue;
                    }
                    if (!_upstreamReadable) return true;
                    var room = _answerRemaining < 0 ? _buffer.Length - _filled : (int)Math.Min(_buffer.Length - _filled, _answerRemaining);
                    if (!Receive(_upstreamFd, buffer + _filled, room, ref _upstreamReadable, out var got)) return false;
                    if (got == 0) return true;
                    if (_answerRemaining < 0)
                    {
                        _filled += got;
                        var head = Http1.HeadLength(_buffer.AsSpan(0, _filled));
                        if (head < 0) continue;
                        var length = Http1.ContentLength(_buffer.AsSpan(0, head));
                        if (length < 0) return false;
                        _answerRemaining = head + length - _filled;
                    }
                    else
                    {
                        _filled += got;
                        _answerRemaining -= got;
                    }
                    _sent = 0;
                }
            }
        }

        // A read that fills less than it asked for drained the socket: wait for the next edge (nginx's rule).
        static bool Receive(int fd, byte* buffer, int length, ref bool readable, out int read)
        {
            var n = recv(fd, buffer, length, 0);
            if (n > 0)
            {
                if (n < length) readable = false;
                read = (int)n;
                return true;
            }
            read = 0;
            if (n == 0) return false; // the peer closed
            if (Marshal.GetLastPInvokeError() != EAGAIN) return false;
            readable = false;
            return true;
        }

        static bool Send(int fd, byte* buffer, int length, ref bool writable, out int sent)
        {
            var n = send(fd, buffer, length, MSG_NOSIGNAL);
            if (n >= 0)
            {
                if (n < length) writable = false;
                sent = (int)n;
                return true;
            }
            sent = 0;
            if (Marshal.GetLastPInvokeError() != EAGAIN) return false;
            writable = false;
            return true;
        }

        public void Close()
        {
            close(clientFd);
            upstreamSocket.Dispose();
        }
    }
}
