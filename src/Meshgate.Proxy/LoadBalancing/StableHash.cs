namespace Meshgate.Proxy.LoadBalancing;

/// <summary>
/// A 64-bit hash that is the same in every process and every run (unlike <see cref="string.GetHashCode()"/>),
/// so all gateway replicas send a key to the same destination: FNV-1a over the bytes, then the MurmurHash3
/// 64-bit finalizer, because FNV-1a alone mixes the last bytes poorly and ring positions need every bit.
/// </summary>
internal static class StableHash
{
    private const ulong FnvOffsetBasis = 0xcbf29ce484222325;
    private const ulong FnvPrime = 0x100000001b3;

    public static ulong Hash(ReadOnlySpan<byte> data)
    {
        var hash = FnvOffsetBasis;
        foreach (var b in data)
        {
            hash ^= b;
            hash *= FnvPrime;
        }

        return Mix(hash);
    }

    /// <summary>
    /// Hashes the UTF-16 code units low byte first (cheaper than transcoding and just as stable); the byte
    /// order is spelled out so the result does not depend on the machine's endianness.
    /// </summary>
    public static ulong Hash(ReadOnlySpan<char> text)
    {
        var hash = FnvOffsetBasis;
        foreach (var c in text)
        {
            hash ^= (byte)c;
            hash *= FnvPrime;
            hash ^= (byte)(c >> 8);
            hash *= FnvPrime;
        }

        return Mix(hash);
    }

    /// <summary>MurmurHash3's fmix64: every input bit affects every output bit.</summary>
    public static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccd;
        x ^= x >> 33;
        x *= 0xc4ceb93fe53ce34f;
        x ^= x >> 33;
        return x;
    }
}
