using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>
/// A consistent-hash ring: each destination owns points on a 64-bit circle and a key goes to the owner of
/// the first point at or after the key's hash.
/// </summary>
/// <remarks>
/// A destination's points depend only on its id and its own weight, never on the other destinations, so
/// adding or removing one of N destinations moves only the keys that land on (or leave) its points, about
/// 1/N of them. Many points per unit of weight keep each destination's share close to its weight.
/// </remarks>
internal sealed class HashRing
{
    /// <summary>Points per unit of weight; 128 keeps a destination's share within a few percent of its weight.</summary>
    internal const int PointsPerUnitWeight = 128;

    /// <summary>
    /// Upper bound on the ring size (about 1.5 MB). Up to a weight sum of 1024 every destination gets its full
    /// count; above that counts are scaled down, and then a weight change moves somewhat more than 1/N of keys.
    /// </summary>
    internal const int MaxPoints = 131_072;

    // Successive points of one destination: its id hash plus multiples of 2^64/phi, then mixed. This is the
    // SplitMix64 sequence seeded by the id, which spreads points evenly without hashing a string per point.
    private const ulong GoldenGamma = 0x9e3779b97f4a7c15;

    private readonly ulong[] _points;
    private readonly DestinationState[] _owners;

    public HashRing(DestinationState[] destinations, int[] weights)
    {
        long totalWeight = 0;
        foreach (var w in weights)
        {
            totalWeight += w;
        }

        var fullSize = totalWeight * PointsPerUnitWeight;
        var counts = new int[weights.Length];
        long size = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            counts[i] = fullSize <= MaxPoints
                ? weights[i] * PointsPerUnitWeight
                : (int)Math.Max(1, (long)weights[i] * MaxPoints / totalWeight);
            size += counts[i];
        }

        _points = new ulong[size];
        _owners = new DestinationState[size];
        var next = 0;
        for (var i = 0; i < destinations.Length; i++)
        {
            var seed = StableHash.Hash(destinations[i].DestinationId);
            for (var r = 1; r <= counts[i]; r++)
            {
                _points[next] = StableHash.Mix(seed + (ulong)r * GoldenGamma);
                _owners[next] = destinations[i];
                next++;
            }
        }

        Array.Sort(_points, _owners);
    }

    public int Size => _points.Length;

    /// <summary>The owner of the first point at or after <paramref name="keyHash"/>, wrapping around.</summary>
    public DestinationState Lookup(ulong keyHash)
    {
        var index = Array.BinarySearch(_points, keyHash);
        if (index < 0)
        {
            index = ~index;
            if (index == _points.Length)
            {
                index = 0;
            }
        }

        return _owners[index];
    }
}
