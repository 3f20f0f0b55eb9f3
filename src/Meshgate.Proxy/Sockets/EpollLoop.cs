using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Proxy.Sockets;

/// <summary>
/// One edge-triggered epoll loop on a thread of its own, one per core for the process (docs/performance.md, "The epoll
/// socket engine"). Its sockets' completions run on its thread, inline: the request's code runs from the event that
/// made it ready to its next wait, as on the runtime's event threads with inline completions, but without the runtime's
/// habit of trying every receive before it waits (<see cref="EpollSocket"/>).
/// </summary>
internal sealed unsafe partial class EpollLoop
{
    private const int MaxEvents = 256;
    private static readonly Lazy<EpollLoop[]> s_loops = new(Start);
    private static int s_next;
    private static uint s_ids;

    [ThreadStatic]
    private static EpollLoop? t_current;

    private readonly int _epoll;
    private readonly Lock _slotsLock = new();
    private readonly Stack<int> _free = new();
    private EpollSocket?[] _slots = new EpollSocket?[256];
    private int _used;
    // Made by the loop's thread for the first socket that sends through it; null until then, or when io_uring is refused.
    private SendRing? _ring;
    private bool _ringTried;
    private readonly Action<ulong, int> _ringCompleted;

    // The event data that stands for the send ring's descriptor (a socket's is its id and slot; no socket has id 0).
    private const ulong RingEvent = uint.MaxValue;

    private EpollLoop(int epoll, int index)
    {
        (_epoll, Index) = (epoll, index);
        _ringCompleted = OnRingCompletion;
    }

    /// <summary>The loop's place among the process's loops, from 0.</summary>
    public int Index { get; }

    /// <summary>How many loops the process runs (one per core), whether or not they have started.</summary>
    public static int Count => Environment.ProcessorCount;

    /// <summary>Where a loop reports what a completion threw (it goes on serving its other sockets).</summary>
    public static ILogger Logger { get; set; } = NullLogger.Instance;

    /// <summary>
    /// The loop whose thread this is, else the next one in turn: a connection made while serving a request on a loop stays
    /// on that loop, so its answer comes back to the thread that has the client.
    /// </summary>
    public static EpollLoop Pick()
    {
        if (t_current is { } current) return current;
        var loops = s_loops.Value;
        return loops[(int)((uint)Interlocked.Increment(ref s_next) % (uint)loops.Length)];
    }

    private static EpollLoop[] Start()
    {
        var loops = new EpollLoop[Count];
        for (var i = 0; i < loops.Length; i++)
        {
            var epoll = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
            if (epoll < 0) throw Libc.Error(Marshal.GetLastPInvokeError());
            loops[i] = new EpollLoop(epoll, i);
            new Thread(loops[i].Run) { IsBackground = true, Name = $"Meshgate epoll {i}" }.Start();
        }
        return loops;
    }

    /// <summary>The loop with <paramref name="index"/>; none for -1 (a connect then takes <see cref="Pick"/>'s).</summary>
    public static EpollLoop? For(int index) => index >= 0 ? s_loops.Value[index] : null;

    /// <summary>The index of the loop that serves a client connection (from its features), or -1 when it is not on the engine.</summary>
    public static int IndexOf(IFeatureCollection connectionFeatures) =>
        connectionFeatures.Get<IConnectionTransportFeature>() is EpollConnection connection ? connection.Loop.Index : -1;

    /// <summary>A new socket's id, which tells its events from those of an earlier socket in the same slot.</summary>
    public static uint NextId()
    {
        var id = Interlocked.Increment(ref s_ids);
        return id != 0 ? id : Interlocked.Increment(ref s_ids);
    }

    /// <summary>Whether this is the loop's own thread.</summary>
    public bool IsCurrent => ReferenceEquals(t_current, this);

    /// <summary>
    /// The loop's send ring, made on first use; null when io_uring is refused (logged once per loop: its sockets then send
    /// with system calls of their own). On the loop's thread only.
    /// </summary>
    public SendRing? Ring
    {
        get
        {
            if (_ringTried) return _ring;
            _ringTried = true;
            var ring = SendRing.TryCreate(out var errno);
            if (ring is null)
            {
                LogRingRefused(Logger, errno);
                return null;
            }
            var ev = new Libc.EpollEvent { Events = Libc.EPOLLIN | Libc.EPOLLET, Data = RingEvent };
            if (Libc.epoll_ctl(_epoll, Libc.EPOLL_CTL_ADD, ring.Fd, &ev) != 0)
            {
                LogRingRefused(Logger, Marshal.GetLastPInvokeError());
                ring.Dispose();
                return null;
            }
            return _ring = ring;
        }
    }

    /// <summary>
    /// Adds a socket to the loop, edge-triggered for reads, writes and the peer's close; returns its slot. The socket's id
    /// must be set before: the loop may report its first event before this returns.
    /// </summary>
    public int Register(EpollSocket socket, int fd)
    {
        var id = socket.Id;
        int slot;
        lock (_slotsLock)
        {
            if (!_free.TryPop(out slot))
            {
                slot = _used++;
                if (slot == _slots.Length)
                {
                    var larger = new EpollSocket?[_slots.Length * 2];
                    _slots.CopyTo(larger, 0);
                    Volatile.Write(ref _slots, larger);
                }
            }
            _slots[slot] = socket;
        }
        var ev = new Libc.EpollEvent
        {
            Events = Libc.EPOLLIN | Libc.EPOLLOUT | Libc.EPOLLRDHUP | Libc.EPOLLET,
            Data = EventData(id, slot),
        };
        if (Libc.epoll_ctl(_epoll, Libc.EPOLL_CTL_ADD, fd, &ev) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Release(slot);
            throw Libc.Error(errno);
        }
        return slot;
    }

    /// <summary>
    /// Takes a closing socket's descriptor out of the epoll set (an event already fetched for it is dropped by its id). Its
    /// slot stays until <see cref="Release"/>: a send of it still in the ring finds the socket by the slot.
    /// </summary>
    public void StopEvents(int fd)
    {
        var ev = default(Libc.EpollEvent);
        Libc.epoll_ctl(_epoll, Libc.EPOLL_CTL_DEL, fd, &ev);
    }

    public void Release(int slot)
    {
        lock (_slotsLock)
        {
            _slots[slot] = null;
            _free.Push(slot);
        }
    }

    private void Run()
    {
        t_current = this;
        var events = stackalloc Libc.EpollEvent[MaxEvents];
        while (true)
        {
            var count = Libc.epoll_wait(_epoll, events, MaxEvents, -1);
            if (count < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EINTR) continue;
                LogWaitFailed(Logger, errno);
                Thread.Sleep(100);
                continue;
            }
            var slots = Volatile.Read(ref _slots);
            for (var i = 0; i < count; i++)
            {
                var data = events[i].Data;
                if (data == RingEvent)
                {
                    // Sends that waited for room have completed.
                    _ring!.Drain(_ringCompleted);
                    continue;
                }
                var slot = (int)(uint)data;
                if (slot >= slots.Length) slots = Volatile.Read(ref _slots);
                var socket = slots[slot];
                if (socket is null || socket.Id != (uint)(data >> 32)) continue;
                try
                {
                    socket.OnEvents(events[i].Events);
                }
                catch (Exception e)
                {
                    LogCompletionFailed(Logger, e);
                }
            }
            // The turn's sends, with one system call; what their completions start goes out with the next.
            while (_ring is { HasQueued: true })
            {
                try
                {
                    _ring.Submit(_ringCompleted);
                }
                catch (Exception e)
                {
                    LogCompletionFailed(Logger, e);
                }
            }
        }
    }

    /// <summary>A send's completion: to the socket in the slot it names, unless a later socket has the slot (by its id).</summary>
    private void OnRingCompletion(ulong data, int result)
    {
        var slots = Volatile.Read(ref _slots);
        var slot = (int)(uint)data;
        if (slot >= slots.Length || slots[slot] is not { } socket || socket.Id != (uint)(data >> 32)) return;
        try
        {
            socket.OnRingSent(result);
        }
        catch (Exception e)
        {
            LogCompletionFailed(Logger, e);
        }
    }

    /// <summary>The event data that names a socket: its id and its slot.</summary>
    public static ulong EventData(uint id, int slot) => ((ulong)id << 32) | (uint)slot;

    [LoggerMessage(EventId = Common.EventIds.Host + 40, Level = LogLevel.Error, Message = "epoll_wait failed (errno {Errno}); the loop retries")]
    private static partial void LogWaitFailed(ILogger logger, int errno);

    [LoggerMessage(EventId = Common.EventIds.Host + 42, Level = LogLevel.Warning, Message = "io_uring is refused (errno {Errno}): this loop's sockets send with system calls of their own (docs/sockets.md)")]
    private static partial void LogRingRefused(ILogger logger, int errno);

    [LoggerMessage(EventId = Common.EventIds.Host + 41, Level = LogLevel.Error, Message = "A socket completion threw on the epoll loop; the loop goes on with its other sockets")]
    private static partial void LogCompletionFailed(ILogger logger, Exception e);
}
