using Meshgate.Proxy.LoadBalancing;

namespace Meshgate.Proxy.Tests.TestSupport;

/// <summary>Deterministic randomness for single-threaded tests.</summary>
internal sealed class SeededRandomSource(int seed) : IRandomSource
{
    private readonly Random _random = new(seed);

    public int Next(int maxExclusive) => _random.Next(maxExclusive);

    public long NextInt64(long maxExclusive) => _random.NextInt64(maxExclusive);
}
