using Meshgate.Proxy.LoadBalancing;

namespace Meshgate.Proxy.Tests.TestSupport;

/// <summary>Returns the values a test scripts, in order, and records nothing else; fails when the script runs out.</summary>
internal sealed class ScriptedRandomSource(params long[] values) : IRandomSource
{
    private readonly Queue<long> _values = new(values);

    public int Calls { get; private set; }

    public int Next(int maxExclusive) => (int)Take(maxExclusive);

    public long NextInt64(long maxExclusive) => Take(maxExclusive);

    private long Take(long maxExclusive)
    {
        Calls++;
        var value = _values.Dequeue();
        Assert.InRange(value, 0, maxExclusive - 1);
        return value;
    }
}
