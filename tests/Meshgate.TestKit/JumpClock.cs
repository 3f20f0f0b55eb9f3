namespace Meshgate.TestKit;

/// <summary>
/// The system clock plus an offset that only <see cref="Advance"/> moves: real time still passes (so certificates the
/// system clock judges stay comparable), and a jump fires every timer it passes at once. For code that waits hours
/// (certificate renewal) in a test that must not.
/// </summary>
public sealed class JumpClock : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<Timer> _timers = [];
    private long _offsetTicks;

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow().AddTicks(Interlocked.Read(ref _offsetTicks));

    /// <summary>Moves the clock forward and fires the timers now due (on the thread pool).</summary>
    public void Advance(TimeSpan by)
    {
        Interlocked.Add(ref _offsetTicks, by.Ticks);
        var now = GetUtcNow();
        List<Timer> due;
        lock (_lock) due = [.. _timers.Where(t => t.DueAt <= now)];
        foreach (var timer in due) timer.Fire();
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new Timer(this, callback, state);
        lock (_lock) _timers.Add(timer);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class Timer(JumpClock clock, TimerCallback callback, object? state) : ITimer
    {
        private readonly ITimer _real = System.CreateTimer(callback, state, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        private TimeSpan _period = Timeout.InfiniteTimeSpan;

        public DateTimeOffset DueAt { get; private set; } = DateTimeOffset.MaxValue;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            _period = period;
            DueAt = dueTime == Timeout.InfiniteTimeSpan ? DateTimeOffset.MaxValue : clock.GetUtcNow() + dueTime;
            return _real.Change(dueTime, period);
        }

        public void Fire()
        {
            if (_period == Timeout.InfiniteTimeSpan || _period == TimeSpan.Zero) Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            else DueAt = clock.GetUtcNow() + _period;
            ThreadPool.QueueUserWorkItem(_ => callback(state));
        }

        public void Dispose()
        {
            lock (clock._lock) clock._timers.Remove(this);
            _real.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
