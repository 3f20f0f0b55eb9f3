namespace Meshgate.TestKit;

/// <summary>
/// The system clock with the wall-clock time moved to where the test says (<see cref="Set"/>): timestamps and timers
/// stay real, so a whole gateway runs on it, and a test crosses midnight or a month's end without waiting.
/// </summary>
public sealed class ShiftedClock : TimeProvider
{
    private long _offsetTicks;

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow().AddTicks(Interlocked.Read(ref _offsetTicks));

    /// <summary>From now on the wall clock reads <paramref name="now"/> and goes on from there.</summary>
    public void Set(DateTimeOffset now) => Interlocked.Exchange(ref _offsetTicks, (now - System.GetUtcNow()).Ticks);
}
