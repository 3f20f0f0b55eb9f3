using System.Buffers;
using System.Net.Sockets;

namespace Meshgate.Proxy.Tests.Sockets;

/// <summary>What the socket tests send and receive: byte arrays as one sequence, and a peer's read of a whole message.</summary>
internal static class Blocks
{
    /// <summary>Reads from <paramref name="peer"/> until <paramref name="length"/> bytes have come.</summary>
    public static async Task<byte[]> ReceiveAsync(Socket peer, int length)
    {
        var received = new byte[length];
        var filled = 0;
        while (filled < length) filled += await peer.ReceiveAsync(received.AsMemory(filled));
        return received;
    }

    /// <summary>Byte arrays as one sequence of segments, as a pipe hands its blocks to a send.</summary>
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
