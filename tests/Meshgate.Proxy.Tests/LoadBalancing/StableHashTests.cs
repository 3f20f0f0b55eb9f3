using System.Text;
using Meshgate.Proxy.LoadBalancing;

namespace Meshgate.Proxy.Tests.LoadBalancing;

public class StableHashTests
{
    [Fact]
    public void Hash_EmptyInput_IsMixedFnvOffsetBasis()
    {
        // Pins the algorithm: replicas must agree on key placement across versions and machines.
        Assert.Equal(StableHash.Mix(0xcbf29ce484222325), StableHash.Hash(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void Hash_String_EqualsHashOfLittleEndianUtf16Bytes()
    {
        const string text = "tenant-42 \u00e9\u4e2d";

        Assert.Equal(StableHash.Hash(Encoding.Unicode.GetBytes(text)), StableHash.Hash(text));
    }

    [Fact]
    public void Hash_OneBitDifference_FlipsAboutHalfTheBits()
    {
        var total = 0;
        for (var i = 0; i < 256; i++)
        {
            total += (int)ulong.PopCount(StableHash.Hash($"key{i}a") ^ StableHash.Hash($"key{i}c"));
        }

        Assert.InRange(total / 256.0, 28, 36);
    }
}
