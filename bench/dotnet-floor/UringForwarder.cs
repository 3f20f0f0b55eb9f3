using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

// The `uring` mode: the `epoll` mode's forwarder (EpollForwarder.cs) with its system calls batched through io_uring.
// Each receive and send is a submission; one io_uring_enter per turn of the loop submits all the turn queued and waits
// for the next completions. On this machine a system call's entry and exit are a large part of a request's kernel time
// (they are virtualised), and under load one turn completes the work of many requests: this mode measures what
// leaving one system call per receive and per send (epoll's model, nginx's and Meshgate's) would save.
// Each client connection has its own upstream connection; requests are relayed as they are, answers by Content-Length.
static unsafe class UringForwarder
{
    const int SOCK_NONBLOCK = 0x800, IPPROTO_TCP = 6, TCP_NODELAY = 1, MSG_NOSIGNAL = 0x4000, EINTR = 4, EINVAL = 22;
    const long SYS_io_uring_setup = 425, SYS_io_uring_enter = 426;
    const uint IORING_SETUP_SUBMIT_ALL = 1 << 7, IORING_SETUP_COOP_TASKRUN = 1 << 8, IORING_SETUP_SINGLE_ISSUER = 1 << 12, IORING_SETUP_DEFER_TASKRUN = 1 << 13;
    const uint IORING_ENTER_GETEVENTS = 1, IORING_FEAT_SINGLE_MMAP = 1;
    const byte IORING_OP_ACCEPT = 13, IORING_OP_SEND = 26, IORING_OP_RECV = 27;
    const long IORING_OFF_SQ_RING = 0, IORING_OFF_CQ_RING = 0x8000000, IORING_OFF_SQES = 0x10000000;
    const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_POPULATE = 0x8000;

    // What a completion is for, in the low bits of its user_data; the pair's index above them.
    const ulong Accept = 0, ClientReceive = 1, ClientSend = 2, UpstreamReceive = 3, UpstreamSend = 4, KindBits = 3, KindMask = 7;

    [StructLayout(LayoutKind.Explicit, Size = 120)]
    struct Params
    {
        [FieldOffset(0)] public uint SqEntries;
        [FieldOffset(4)] public uint CqEntries;
        [FieldOffset(8)] public uint Flags;
        [FieldOffset(20)] public uint Features;
        [FieldOffset(40)] public uint SqHead;
        [FieldOffset(44)] public uint SqTail;
        [FieldOffset(48)] public uint SqRingMask;
        [FieldOffset(64)] public uint SqArray;
        [FieldOffset(80)] public uint CqHead;
        [FieldOffset(84)] public uint CqTail;
        [FieldOffset(88)] public uint CqRingMask;
        [FieldOffset(100)] public uint Cqes;
    }

    [StructLayout(LayoutKind.Explicit, Size = 64)]
    struct Sqe
    {
        [FieldOffset(0)] public byte Opcode;
        [FieldOffset(4)] public int Fd;
        [FieldOffset(8)] public ulong Offset;
        [FieldOffset(16)] public ulong Address;
        [FieldOffset(24)] public uint Length;
        [FieldOffset(28)] public uint OpFlags;
        [FieldOffset(32)] public ulong UserData;
    }

    [StructLayout(LayoutKind.Sequential)]
    struct Cqe
    {
        public ulong UserData;
        public int Result;
        public uint Flags;
    }

    [DllImport("libc", SetLastError = true)] static extern long syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);
    [DllImport("libc", SetLastError = true)] static extern void* mmap(void* address, nuint length, int protection, int flags, int fd, long offset);
    [DllImport("libc", SetLastError = true)] static extern int setsockopt(int fd, int level, int name, int* value, int length);
    [DllImport("libc")] static extern int close(int fd);

    // One loop per core, each with its own listener, as the epoll mode runs.
    public static void Run(int listenPort, IPEndPoint upstream) =>
        EpollForwarder.RunLoops(listenPort, "uring loop", listener => new Loop(listener, upstream).Run);

    // A submission and a completion queue shared with the kernel (io_uring_setup's rings, mapped into this process).
    internal sealed class Ring
    {
        readonly int _fd;
        readonly uint* _sqTail, _sqMask, _sqArray, _cqHead, _cqTail, _cqMask;
        readonly Sqe* _sqes;
        readonly Cqe* _cqes;
        uint _queued; // submissions written since the last io_uring_enter

        // deferTaskRun: task work (a socket's readiness turned into a completion) runs only when the loop asks for
        // completions, not by interrupting it; for a loop that waits in io_uring_enter. One that waits in epoll_wait
        // (the epoll mode's batched sends) needs completions posted while it sleeps there.
        public Ring(uint entries, bool deferTaskRun = true)
        {
            var p = default(Params);
            p.Flags = deferTaskRun ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL : IORING_SETUP_SUBMIT_ALL;
            var fd = syscall(SYS_io_uring_setup, entries, (long)&p, 0, 0, 0, 0);
            if (fd < 0 && Marshal.GetLastPInvokeError() == EINVAL)
            {
                p = default;
                p.Flags = IORING_SETUP_COOP_TASKRUN;
                fd = syscall(SYS_io_uring_setup, entries, (long)&p, 0, 0, 0, 0);
            }
            if (fd < 0) throw new InvalidOperationException($"io_uring_setup: errno {Marshal.GetLastPInvokeError()}");
            _fd = (int)fd;
            var sqSize = p.SqArray + p.SqEntries * sizeof(uint);
            var cqSize = p.Cqes + p.CqEntries * (uint)sizeof(Cqe);
            byte* sq, cq;
            if ((p.Features & IORING_FEAT_SINGLE_MMAP) != 0)
            {
                sq = cq = Map(Math.Max(sqSize, cqSize), IORING_OFF_SQ_RING);
            }
            else
            {
                sq = Map(sqSize, IORING_OFF_SQ_RING);
                cq = Map(cqSize, IORING_OFF_CQ_RING);
            }
            _sqes = (Sqe*)Map(p.SqEntries * (uint)sizeof(Sqe), IORING_OFF_SQES);
            _sqTail = (uint*)(sq + p.SqTail);
            _sqMask = (uint*)(sq + p.SqRingMask);
            _sqArray = (uint*)(sq + p.SqArray);
            _cqHead = (uint*)(cq + p.CqHead);
            _cqTail = (uint*)(cq + p.CqTail);
            _cqMask = (uint*)(cq + p.CqRingMask);
            _cqes = (Cqe*)(cq + p.Cqes);
        }

        byte* Map(uint length, long offset)
        {
            var address = mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, _fd, offset);
            if ((nint)address == -1) throw new InvalidOperationException($"mmap of the ring: errno {Marshal.GetLastPInvokeError()}");
            return (byte*)address;
        }

        public int Fd => _fd;

        public uint Queued => _queued;

        // Submits what was queued without waiting (the completions of what the socket took at once are there when it returns).
        public void Submit()
        {
            while (_queued > 0)
            {
                var result = syscall(SYS_io_uring_enter, _fd, _queued, 0, IORING_ENTER_GETEVENTS, 0, 0);
                if (result >= 0)
                {
                    _queued -= (uint)result;
                    continue;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR) throw new InvalidOperationException($"io_uring_enter: errno {errno}");
            }
        }

        public void Queue(byte opcode, int fd, byte* buffer, int length, uint opFlags, ulong userData)
        {
            // The loop submits at least once per turn and the ring has room for every socket's one operation, so it never fills.
            var tail = *_sqTail;
            var index = tail & *_sqMask;
            var sqe = _sqes + index;
            *sqe = default;
            sqe->Opcode = opcode;
            sqe->Fd = fd;
            sqe->Address = (ulong)buffer;
            sqe->Length = (uint)length;
            sqe->OpFlags = opFlags;
            sqe->UserData = userData;
            _sqArray[index] = index;
            Volatile.Write(ref *_sqTail, tail + 1);
            _queued++;
        }

        // Submits what was queued and waits until at least one completion is there.
        public void SubmitAndWait()
        {
            while (true)
            {
                var result = syscall(SYS_io_uring_enter, _fd, _queued, 1, IORING_ENTER_GETEVENTS, 0, 0);
                if (result >= 0)
                {
                    _queued -= (uint)result;
                    return;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR) throw new InvalidOperationException($"io_uring_enter: errno {errno}");
            }
        }

        // Each completion there now; a handler may queue more (they go out with the next submission).
        public void Drain(Action<ulong, int> handle)
        {
            var head = *_cqHead;
            var tail = Volatile.Read(ref *_cqTail);
            while (head != tail)
            {
                var cqe = _cqes[head & *_cqMask];
                head++;
                Volatile.Write(ref *_cqHead, head);
                handle(cqe.UserData, cqe.Result);
                if (head == tail) tail = Volatile.Read(ref *_cqTail);
            }
        }
    }

    sealed class Loop(Socket listener, IPEndPoint upstream)
    {
        readonly List<Pair?> _pairs = [];
        readonly int _listenFd = (int)listener.Handle;
        Ring _ring = null!;

        public void Run()
        {
            // Made on the loop's thread: a single-issuer ring takes submissions from the thread that made it only.
            _ring = new Ring(4096);
            QueueAccept();
            Action<ulong, int> handle = Complete;
            while (true)
            {
                _ring.SubmitAndWait();
                _ring.Drain(handle);
            }
        }

        void QueueAccept() => _ring.Queue(IORING_OP_ACCEPT, _listenFd, null, 0, SOCK_NONBLOCK, Accept);

        void Complete(ulong userData, int result)
        {
            var kind = userData & KindMask;
            if (kind == Accept)
            {
                QueueAccept();
                if (result >= 0) Start(result);
                return;
            }
            var index = (int)(userData >> (int)KindBits);
            if (_pairs[index] is not { } pair) return;
            if (!pair.Complete(kind, result))
            {
                pair.Close();
                _pairs[index] = null;
            }
        }

        void Start(int clientFd)
        {
            var one = 1;
            setsockopt(clientFd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));
            var upstreamSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            upstreamSocket.Connect(upstream);
            upstreamSocket.Blocking = false;
            var pair = new Pair(_ring, (ulong)_pairs.Count << (int)KindBits, clientFd, upstreamSocket);
            _pairs.Add(pair);
            pair.ReceiveRequest();
        }
    }

    // One client connection and its upstream connection, relaying one exchange at a time: at most one operation of the
    // pair is in the ring at any time, so the buffer is never read and written at once.
    sealed class Pair(Ring ring, ulong id, int clientFd, Socket upstreamSocket)
    {
        readonly int _upstreamFd = (int)upstreamSocket.Handle;
        readonly byte[] _buffer = GC.AllocateArray<byte>(64 * 1024, pinned: true);
        int _filled;            // bytes in the buffer: the request being read, or the answer's bytes not yet sent
        int _sent;              // of those, already sent on
        long _answerRemaining;  // answer bytes still to come from upstream (-1: head not complete)

        byte* Buffer => (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(_buffer, 0);

        public void ReceiveRequest() =>
            ring.Queue(IORING_OP_RECV, clientFd, Buffer + _filled, _buffer.Length - _filled, 0, id | ClientReceive);

        void Send(int fd, ulong kind) => ring.Queue(IORING_OP_SEND, fd, Buffer + _sent, _filled - _sent, MSG_NOSIGNAL, id | kind);

        void ReceiveAnswer()
        {
            var room = _answerRemaining < 0 ? _buffer.Length - _filled : (int)Math.Min(_buffer.Length - _filled, _answerRemaining);
            ring.Queue(IORING_OP_RECV, _upstreamFd, Buffer + _filled, room, 0, id | UpstreamReceive);
        }

        // One operation's result; false when the pair is done (a peer closed, an error, or what this floor does not relay).
        public bool Complete(ulong kind, int result)
        {
            if (result <= 0) return false;
            switch (kind)
            {
                case ClientReceive:
                    _filled += result;
                    var head = Http1.HeadLength(_buffer.AsSpan(0, _filled));
                    if (head < 0)
                    {
                        ReceiveRequest();
                        return true;
                    }
                    if (head != _filled || Http1.ContentLength(_buffer.AsSpan(0, head)) != 0) return false; // GETs only
                    _sent = 0;
                    Send(_upstreamFd, UpstreamSend);
                    return true;
                case UpstreamSend:
                    _sent += result;
                    if (_sent < _filled)
                    {
                        Send(_upstreamFd, UpstreamSend);
                        return true;
                    }
                    _filled = _sent = 0;
                    _answerRemaining = -1;
                    ReceiveAnswer();
                    return true;
                case UpstreamReceive:
                    if (_answerRemaining < 0)
                    {
                        _filled += result;
                        var answerHead = Http1.HeadLength(_buffer.AsSpan(0, _filled));
                        if (answerHead < 0)
                        {
                            ReceiveAnswer();
                            return true;
                        }
                        var length = Http1.ContentLength(_buffer.AsSpan(0, answerHead));
                        if (length < 0) return false;
                        _answerRemaining = answerHead + length - _filled;
                    }
                    else
                    {
                        _filled += result;
                        _answerRemaining -= result;
                    }
                    Send(clientFd, ClientSend);
                    return true;
                case ClientSend:
                    _sent += result;
                    if (_sent < _filled)
                    {
                        Send(clientFd, ClientSend);
                        return true;
                    }
                    _filled = _sent = 0;
                    if (_answerRemaining > 0) ReceiveAnswer();
                    else ReceiveRequest();
                    return true;
                default:
                    return false;
            }
        }

        public void Close()
        {
            close(clientFd);
            upstreamSocket.Dispose();
        }
    }
}
