namespace Meshgate.Proxy.LoadBalancing;

/// <summary>
/// Randomness used by the load-balancing policies, behind a seam so tests can make picks deterministic.
/// Implementations must be safe to call from many threads at once.
/// </summary>
internal interface IRandomSource
{
    /// <summary>A uniformly distributed integer in <c>[0, maxExclusive)</c>.</summary>
    int Next(int maxExclusive);

    /// <summary>A uniformly distributed integer in <c>[0, maxExclusive)</c>.</summary>
    long NextInt64(long maxExclusive);
}
