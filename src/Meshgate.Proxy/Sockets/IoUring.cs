namespace Meshgate.Proxy.Sockets;

/// <summary>Whether this kernel lets the process use io_uring, for the epoll engine's sends (docs/sockets.md): tried once.</summary>
public static class IoUring
{
    private static readonly Lazy<(bool Allowed, int Errno)> s_probe = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return (false, 0);
        var ring = SendRing.TryCreate(out var errno);
        ring?.Dispose();
        return (ring is not null, errno);
    });

    public static bool Allowed => s_probe.Value.Allowed;

    /// <summary>Why not, when not: EPERM (a seccomp profile such as Docker's default, or kernel.io_uring_disabled), ENOSYS (a kernel without it).</summary>
    public static int RefusedErrno => s_probe.Value.Errno;
}
