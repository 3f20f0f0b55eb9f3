using System.Buffers;

namespace Meshgate.Proxy.Tests.Sockets;

/// <summary>Byte arrays as one sequence of segments, as a pipe hands its blocks to a send.</summary>
internal static class Blocks
{
    public static ReadOnlySequence<byte> Sequence(IReadOnlyList<byte[]> blocks)
    {
        var first = new Segment(blocks[0], 0);
        var last = first;
        foreach (var block in blocks.Skip(1)) last = last.Append(block);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes, long runningIndex)
        {
            Memory = bytes;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] bytes) => (Segment)(Next = new Segment(bytes, RunningIndex + Memory.Length));
    }
}
