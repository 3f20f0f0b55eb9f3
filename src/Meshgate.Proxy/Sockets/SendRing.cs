using System.Runtime.InteropServices;

namespace Meshgate.Proxy.Sockets;

/// <summary>
/// An io_uring ring through which a loop's sockets send (docs/sockets.md, "Sends through io_uring"). A send is a
/// submission queued during the loop's turn; the turn's end hands all of them to the kernel with one
/// <c>io_uring_enter</c>, and the socket takes what it can at once, as a <c>send</c> would. A send that waits for room
/// completes later: the ring's descriptor is in the loop's epoll set. Used from the loop's thread only.
/// </summary>
internal sealed unsafe class SendRing : IDisposable
{
    // Room for a turn's sends (a turn handles at most 256 epoll events); a send that finds the queue full is a system call.
    private const uint Entries = 1024;
    private const uint IORING_SETUP_SUBMIT_ALL = 1 << 7, IORING_SETUP_SINGLE_ISSUER = 1 << 12;
    private const uint IORING_ENTER_GETEVENTS = 1, IORING_FEAT_SINGLE_MMAP = 1;
    private const byte IORING_OP_SENDMSG = 9, IORING_OP_SEND = 26;
    private const long IORING_OFF_SQ_RING = 0, IORING_OFF_CQ_RING = 0x8000000, IORING_OFF_SQES = 0x10000000;
    private const int EBUSY = 16;

    private readonly int _fd;
    private readonly uint* _sqHead, _sqTail, _sqArray, _cqHead, _cqTail;
    private readonly uint _sqMask, _cqMask, _sqEntries;
    private readonly Submission* _submissions;
    private readonly Completion* _completions;
    private readonly (nint Address, nuint Length)[] _mappings;
    private uint _queued;

    private SendRing(int fd, in Parameters p, (nint, nuint)[] mappings, byte* sq, byte* cq, Submission* submissions)
    {
        _fd = fd;
        _mappings = mappings;
        _sqHead = (uint*)(sq + p.SqHead);
        _sqTail = (uint*)(sq + p.SqTail);
        _sqMask = *(uint*)(sq + p.SqRingMask);
        _sqEntries = p.SqEntries;
        _sqArray = (uint*)(sq + p.SqArray);
        _cqHead = (uint*)(cq + p.CqHead);
        _cqTail = (uint*)(cq + p.CqTail);
        _cqMask = *(uint*)(cq + p.CqRingMask);
        _completions = (Completion*)(cq + p.Cqes);
        _submissions = submissions;
    }

    /// <summary>The ring's descriptor, readable when completions wait to be drained.</summary>
    public int Fd => _fd;

    /// <summary>Whether sends are queued that the next <see cref="Submit"/> hands to the kernel.</summary>
    public bool HasQueued => _queued > 0;

    /// <summary>
    /// A new ring for the calling thread (the only one that may submit to it); null with the errno when the kernel refuses
    /// io_uring (a seccomp profile, <c>kernel.io_uring_disabled</c>, a kernel without it).
    /// </summary>
    public static SendRing? TryCreate(out int errno)
    {
        var p = default(Parameters);
        p.Flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER;
        var fd = (int)Libc.syscall(Libc.SYS_io_uring_setup, (nint)Entries, (nint)(&p), 0, 0, 0, 0);
        if (fd < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }
        var sqLength = (nuint)(p.SqArray + p.SqEntries * sizeof(uint));
        var cqLength = (nuint)(p.Cqes + p.CqEntries * (uint)sizeof(Completion));
        var mappings = new List<(nint, nuint)>();
        try
        {
            byte* sq, cq;
            if ((p.Features & IORING_FEAT_SINGLE_MMAP) != 0) sq = cq = Map(fd, Math.Max(sqLength, cqLength), IORING_OFF_SQ_RING, mappings);
            else
            {
                sq = Map(fd, sqLength, IORING_OFF_SQ_RING, mappings);
                cq = Map(fd, cqLength, IORING_OFF_CQ_RING, mappings);
            }
            var submissions = (Submission*)Map(fd, (nuint)(p.SqEntries * sizeof(Submission)), IORING_OFF_SQES, mappings);
            errno = 0;
            return new SendRing(fd, p, [.. mappings], sq, cq, submissions);
        }
        catch (InvalidOperationException)
        {
            errno = Marshal.GetLastPInvokeError();
            foreach (var (address, length) in mappings) Libc.munmap((void*)address, length);
            Libc.close(fd);
            return null;
        }
    }

    private static byte* Map(int fd, nuint length, long offset, List<(nint, nuint)> mappings)
    {
        var address = Libc.mmap(null, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_POPULATE, fd, offset);
        if ((nint)address == -1) throw new InvalidOperationException("mmap of the io_uring ring failed");
        mappings.Add(((nint)address, length));
        return (byte*)address;
    }

    /// <summary>Queues a send of <paramref name="length"/> bytes; false when the submission queue is full (send another way).</summary>
    public bool TryQueueSend(int fd, byte* buffer, int length, ulong userData) =>
        TryQueue(IORING_OP_SEND, fd, (ulong)buffer, (uint)length, userData);

    /// <summary>Queues a sendmsg; the message and its vectors must stay where they are until the send's completion.</summary>
    public bool TryQueueSendMessage(int fd, Libc.MessageHeader* message, ulong userData) =>
        TryQueue(IORING_OP_SENDMSG, fd, (ulong)message, 1, userData);

    private bool TryQueue(byte opcode, int fd, ulong address, uint length, ulong userData)
    {
        var tail = *_sqTail;
        if (tail - Volatile.Read(ref *_sqHead) >= _sqEntries) return false;
        var index = tail & _sqMask;
        var submission = _submissions + index;
        *submission = default;
        submission->Opcode = opcode;
        submission->Fd = fd;
        submission->Address = address;
        submission->Length = length;
        submission->OpFlags = Libc.MSG_NOSIGNAL;
        submission->UserData = userData;
        _sqArray[index] = index;
        Volatile.Write(ref *_sqTail, tail + 1);
        _queued++;
        return true;
    }

    /// <summary>
    /// Hands the queued sends to the kernel, which makes each at once as far as its socket has room, and calls
    /// <paramref name="completed"/> with each completion there (a send's bytes, or its negated errno). A completion may
    /// queue another send: that one waits for the next call.
    /// </summary>
    public void Submit(Action<ulong, int> completed)
    {
        while (_queued > 0)
        {
            var submitted = Libc.syscall(Libc.SYS_io_uring_enter, _fd, (nint)_queued, 0, (nint)IORING_ENTER_GETEVENTS, 0, 0);
            if (submitted >= 0)
            {
                _queued -= (uint)submitted;
                break;
            }
            var errno = Marshal.GetLastPInvokeError();
            // EBUSY: the completion queue is full; drained below, then the rest is submitted next time.
            if (errno == EBUSY) break;
            if (errno != Libc.EINTR) throw Libc.Error(errno);
        }
        Drain(completed);
    }

    /// <summary>Calls <paramref name="completed"/> with each completion the ring holds (a send's bytes, or its negated errno).</summary>
    public void Drain(Action<ulong, int> completed)
    {
        var head = *_cqHead;
        while (head != Volatile.Read(ref *_cqTail))
        {
            var completion = _completions[head & _cqMask];
            head++;
            Volatile.Write(ref *_cqHead, head);
            completed(completion.UserData, completion.Result);
        }
    }

    public void Dispose()
    {
        foreach (var (address, length) in _mappings) Libc.munmap((void*)address, length);
        Libc.close(_fd);
    }

    /// <summary>struct io_uring_params, with the offsets of the rings' fields (x86-64 and arm64 layout).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 120)]
    private struct Parameters
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

    /// <summary>struct io_uring_sqe, the fields a send uses.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    private struct Submission
    {
        [FieldOffset(0)] public byte Opcode;
        [FieldOffset(4)] public int Fd;
        [FieldOffset(16)] public ulong Address;
        [FieldOffset(24)] public uint Length;
        [FieldOffset(28)] public uint OpFlags;
        [FieldOffset(32)] public ulong UserData;
    }

    /// <summary>struct io_uring_cqe (written by the kernel).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 16)]
    private readonly struct Completion
    {
        [FieldOffset(0)] public readonly ulong UserData;
        [FieldOffset(8)] public readonly int Result;
    }
}
