using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Meshgate.Proxy.Upstream.Http1;

namespace Meshgate.Proxy.Tests.Upstream.Http1;

/// <summary>
/// The direct path's own reader and writer over an upstream's stream (a pipe's stream stands in for the socket here; the
/// forwarding tests run them over real sockets and TLS): PipeReader's contract as the response reader and body copy
/// use it, an array that grows for a long head, and a writer that sends what it holds in one write.
/// </summary>
public sealed class Http1ConnectionReaderWriterTests
{
    [Fact]
    public async Task Read_PartlyConsumed_RestComesBackWithoutWaiting()
    {
        var upstream = new Pipe();
        var reader = ReaderOf(upstream);
        await upstream.Writer.WriteAsync("HTTP/1.1 200 OK\r\n\r\nbody"u8.ToArray());

        var first = await reader.ReadAsync();
        Assert.Equal("HTTP/1.1 200 OK\r\n\r\nbody", Text(first.Buffer));
        reader.AdvanceTo(first.Buffer.GetPosition(19));

        Assert.True(reader.TryRead(out var rest));
        Assert.Equal("body", Text(rest.Buffer));
        Assert.False(rest.IsCompleted);
        reader.AdvanceTo(rest.Buffer.End);
        Assert.False(reader.TryRead(out _));
    }

    [Fact]
    public async Task Read_AllExamined_WaitsForMoreAndKeepsWhatWasThere()
    {
        var upstream = new Pipe();
        var reader = ReaderOf(upstream);
        await upstream.Writer.WriteAsync("HTTP/1.1 2"u8.ToArray());
        var partial = await reader.ReadAsync();
        reader.AdvanceTo(partial.Buffer.Start, partial.Buffer.End);
        Assert.False(reader.TryRead(out _));

        var next = reader.ReadAsync();
        Assert.False(next.IsCompleted);
        await upstream.Writer.WriteAsync("00 OK\r\n\r\n"u8.ToArray());

        Assert.Equal("HTTP/1.1 200 OK\r\n\r\n", Text((await next).Buffer));
    }

    [Fact]
    public async Task Read_HeadLongerThanTheArray_GrowsAndLosesNoByte()
    {
        var upstream = new Pipe();
        var reader = ReaderOf(upstream);
        var sent = new byte[150_000];
        for (var i = 0; i < sent.Length; i++) sent[i] = (byte)('a' + i % 26);
        var writing = Task.Run(async () =>
        {
            for (var offset = 0; offset < sent.Length; offset += 10_000) await upstream.Writer.WriteAsync(sent.AsMemory(offset, 10_000));
        });

        ReadResult result;
        while (true)
        {
            // As the response reader does while a head is incomplete: examine everything, consume nothing.
            result = await reader.ReadAsync();
            if (result.Buffer.Length == sent.Length) break;
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
        await writing;

        Assert.True(result.Buffer.ToArray().AsSpan().SequenceEqual(sent));
    }

    [Fact]
    public async Task Read_UpstreamCloses_CompletedWithWhatWasLeft_ThenEmpty()
    {
        var upstream = new Pipe();
        var reader = ReaderOf(upstream);
        await upstream.Writer.WriteAsync("last"u8.ToArray());
        await upstream.Writer.CompleteAsync();

        var data = await reader.ReadAsync();
        Assert.Equal("last", Text(data.Buffer));
        reader.AdvanceTo(data.Buffer.End);
        var end = await reader.ReadAsync();

        Assert.True(end.IsCompleted);
        Assert.True(end.Buffer.IsEmpty);
    }

    [Fact]
    public async Task Read_OverASocket_WaitsForTheAnswer_ThenReadsAllThatCame()
    {
        var (gateway, upstream) = await SocketPairAsync();
        using (gateway)
        using (upstream)
        {
            var reader = new Http1ConnectionReader(new NetworkStream(gateway, ownsSocket: false), CancellationToken.None, streamTakesToken: false);
            var read = reader.ReadAsync();
            await Task.Delay(50);
            Assert.False(read.IsCompleted);

            await upstream.SendAsync("HTTP/1.1 204 No Content\r\n\r\n"u8.ToArray());
            var result = await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10));

            Assert.Equal("HTTP/1.1 204 No Content\r\n\r\n", Text(result.Buffer));
            Assert.False(result.IsCompleted);
        }
    }

    [Fact]
    public async Task Read_OverASocket_ClosedWhileWaiting_ReportsTheActivityCancellation()
    {
        var (gateway, upstream) = await SocketPairAsync();
        using var activity = new CancellationTokenSource();
        // As Http1Connection does: the activity source ends the connection by closing its socket.
        activity.Token.Register(gateway.Dispose);
        using (upstream)
        {
            var reader = new Http1ConnectionReader(new NetworkStream(gateway, ownsSocket: false), activity.Token, streamTakesToken: false);
            var read = reader.ReadAsync();
            Assert.False(read.IsCompleted);

            activity.Cancel();

            var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(activity.Token, error.CancellationToken);
        }
    }

    [Fact]
    public async Task Write_MoreThanTheFirstArray_SentWholeInOneFlush()
    {
        var upstream = new Pipe();
        var writer = new Http1ConnectionWriter(upstream.Writer.AsStream(), CancellationToken.None, streamTakesToken: false);
        var header = new string('h', 10_000);
        writer.Write("GET / HTTP/1.1\r\n"u8);
        var span = writer.GetSpan(header.Length);
        var written = System.Text.Encoding.ASCII.GetBytes(header, span);
        writer.Advance(written);
        Assert.Equal(16 + 10_000, writer.UnflushedBytes);

        await writer.FlushAsync();

        Assert.Equal(0, writer.UnflushedBytes);
        var received = await upstream.Reader.ReadAtLeastAsync(16 + 10_000);
        Assert.Equal("GET / HTTP/1.1\r\n" + header, Text(received.Buffer));
    }

    /// <summary>Two ends of a loopback TCP connection: the gateway's, whose bytes the reader reads, and the upstream's.</summary>
    private static async Task<(Socket Gateway, Socket Upstream)> SocketPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var gateway = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await gateway.ConnectAsync(listener.LocalEndPoint!);
        return (gateway, await listener.AcceptAsync());
    }

    /// <summary>The reader over the pipe's reading end, as over a plain TCP upstream (no token per read).</summary>
    private static Http1ConnectionReader ReaderOf(Pipe upstream) => new(upstream.Reader.AsStream(), CancellationToken.None, streamTakesToken: false);

    private static string Text(ReadOnlySequence<byte> bytes) => System.Text.Encoding.ASCII.GetString(bytes.ToArray());
}
