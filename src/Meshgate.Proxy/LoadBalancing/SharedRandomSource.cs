namespace Meshgate.Proxy.LoadBalancing;

/// <summary>Production randomness: <see cref="Random.Shared"/> is thread-safe and not contended.</summary>
internal sealed class SharedRandomSource : IRandomSource
{
    public int Next(int maxExclusive) => Random.Shared.Next(maxExclusive);

    public long NextInt64(long maxExclusive) => Random.Shared.NextInt64(maxExclusive);
}
