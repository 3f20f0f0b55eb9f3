using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Meshgate.Proxy.Sockets;

/// <summary>The Linux system calls the epoll engine makes itself: the same ones the runtime's socket engine wraps.</summary>
internal static unsafe partial class Libc
{
    public const uint EPOLLIN = 0x1, EPOLLOUT = 0x4, EPOLLERR = 0x8, EPOLLHUP = 0x10, EPOLLRDHUP = 0x2000, EPOLLET = 0x80000000;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CLOEXEC = 0x80000;
    public const int EINTR = 4, EAGAIN = 11;
    public const int MSG_NOSIGNAL = 0x4000;
    public const long SYS_io_uring_setup = 425, SYS_io_uring_enter = 426; // x86-64's numbers (arm64 has the same)
    public const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_POPULATE = 0x8000;

    /// <summary>struct epoll_event, packed on x86-64 (12 bytes) as the kernel lays it out there.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    /// <summary>struct iovec.</summary>
    public struct IoVector
    {
        public void* Base;
        public nint Length;
    }

    /// <summary>struct msghdr (x86-64 and arm64 layout: natural alignment, size_t lengths).</summary>
    public struct MessageHeader
    {
        public void* Name;
        public int NameLength;
        public IoVector* Vectors;
        public nint VectorCount;
        public void* Control;
        public nint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epfd, EpollEvent* events, int maxEvents, int timeout);

    // The three calls every request makes, on non-blocking sockets only: none of them waits, so each runs without the
    // runtime's transition to and from native code (SuppressGCTransition: a garbage collection that starts meanwhile
    // waits the few microseconds the call takes). Without the transition nothing runs between the call and the caller's
    // Errno() on failure, so errno is still the call's own and the stub need not save it on every success too.

    [LibraryImport("libc")]
    [SuppressGCTransition]
    public static partial nint recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc")]
    [SuppressGCTransition]
    public static partial nint send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc")]
    [SuppressGCTransition]
    public static partial nint sendmsg(int fd, MessageHeader* message, int flags);

    /// <summary>The kernel's io_uring calls, which libc does not wrap (SendRing).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial long syscall(long number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);

    [LibraryImport("libc", SetLastError = true)]
    public static partial void* mmap(void* address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc")]
    public static partial int munmap(void* address, nuint length);

    [LibraryImport("libc")]
    public static partial int close(int fd);

    /// <summary>errno of the last of <see cref="recv"/>, <see cref="send"/> or <see cref="sendmsg"/> to fail on this thread: read right after it.</summary>
    public static int Errno() => Marshal.GetLastSystemError();

    /// <summary>The runtime's name for a failed call's errno, so errors read as the runtime's own sockets report them.</summary>
    public static SocketException Error(int errno) => new((int)(errno switch
    {
        104 => SocketError.ConnectionReset,
        32 => SocketError.Shutdown, // EPIPE: the runtime reports a send after the peer's reset so
        103 => SocketError.ConnectionAborted,
        110 => SocketError.TimedOut,
        111 => SocketError.ConnectionRefused,
        113 => SocketError.HostUnreachable,
        101 => SocketError.NetworkUnreachable,
        107 => SocketError.NotConnected,
        9 => SocketError.OperationAborted, // EBADF: closed under the call
        _ => SocketError.SocketError,
    }));
}
