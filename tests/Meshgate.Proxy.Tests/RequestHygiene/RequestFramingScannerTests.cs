using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Meshgate.Proxy.RequestHygiene;

namespace Meshgate.Proxy.Tests.RequestHygiene;

public sealed class RequestFramingScannerTests
{
    private const string Post = "POST / HTTP/1.1\r\nHost: a\r\n";
    private const string ChunkedHead = Post + "Transfer-Encoding: chunked\r\n\r\n";

    /// <summary>How the bytes arrive: all at once, one at a time (each read a new one-segment buffer), or as one-byte segments.</summary>
    public enum Arrival
    {
        Whole,
        ByteByByte,
        OneByteSegments,
    }

    /// <summary>
    /// Feeds <paramref name="input"/> as Kestrel would read it: each time, Kestrel consumes everything
    /// released. Returns how many bytes were released in all, the violation, and whether the scanner passes through.
    /// </summary>
    private static (long Released, FramingViolation Violation, bool PassingThrough) Run(string input, Arrival arrival = Arrival.Whole, long maxHeldHead = 8192)
    {
        var data = Encoding.Latin1.GetBytes(input);
        var scanner = new RequestFramingScanner(maxHeldHead);
        long consumed = 0;
        var available = arrival == Arrival.ByteByByte ? 0 : data.Length;
        do
        {
            if (arrival == Arrival.ByteByByte) available++;
            var pending = data.AsMemory((int)consumed, (int)(available - consumed));
            var buffer = arrival == Arrival.OneByteSegments ? Segments(pending) : new ReadOnlySequence<byte>(pending);
            scanner.Scan(buffer);
            var released = scanner.Released;
            if (scanner.Violation != FramingViolation.None) return (consumed + released, scanner.Violation, scanner.PassingThrough);
            scanner.Consumed(released);
            consumed += released;
        }
        while (available < data.Length);
        return (consumed, scanner.Violation, scanner.PassingThrough);
    }

    private static ReadOnlySequence<byte> Segments(ReadOnlyMemory<byte> bytes)
    {
        if (bytes.IsEmpty) return ReadOnlySequence<byte>.Empty;
        var first = new Segment(bytes[..1], 0);
        var last = first;
        for (var i = 1; i < bytes.Length; i++) last = last.Append(bytes.Slice(i, 1));
        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    public static TheoryData<string, Arrival> WellFormed()
    {
        string[] requests =
        [
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
            "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", // RFC 9112 2.2: empty lines before a request line
            Post + "Content-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Post + "content-length:  005 \r\n\r\nhello",
            Post + "Content-Length: 0\r\n\r\n",
            ChunkedHead + "5\r\nhello\r\n0\r\n\r\n",
            Post + "transfer-encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            ChunkedHead + "5;name=value;q=\"x y\"\r\nhello\r\n0\r\n\r\n",
            ChunkedHead + "5 ; a = b ;c;d=\"\\\"q\\\\\"\r\nhello\r\n0\r\n\r\n", // BWS and quoted-pairs
            ChunkedHead + "A\r\n0123456789\r\n0;last=1\r\nX-Trailer: t\r\nY: u\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            ChunkedHead + "000000000000000000000005\r\nhello\r\n0\r\n\r\n", // leading zeros do not overflow
            "GET / HTTP/1.1\r\nHost: a\r\nX-Body: Content-Length: 5\r\nContent-Type: text/plain\r\n\r\n", // only the field name counts
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-upgrade-y\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", // not the upgrade token: still read
        ];
        var data = new TheoryData<string, Arrival>();
        foreach (var request in requests)
        {
            foreach (var arrival in Enum.GetValues<Arrival>()) data.Add(request, arrival);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(WellFormed))]
    public void Scan_WellFormed_EveryByteReleased(string input, Arrival arrival)
    {
        var (released, violation, passingThrough) = Run(input, arrival);

        Assert.Equal(FramingViolation.None, violation);
        Assert.False(passingThrough);
        Assert.Equal(input.Length, released);
    }

    [Theory]
    [InlineData(Post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.ContentLengthAndTransferEncoding))]
    [InlineData(Post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.ContentLengthAndTransferEncoding))]
    [InlineData(Post + "Content-Length: +5\r\n\r\nhello", nameof(FramingViolation.InvalidContentLength))]
    [InlineData(Post + "Content-Length: -5\r\n\r\nhello", nameof(FramingViolation.InvalidContentLength))]
    [InlineData(Post + "Content-Length: 0x5\r\n\r\nhello", nameof(FramingViolation.InvalidContentLength))]
    [InlineData(Post + "Content-Length: 5 0\r\n\r\nhello", nameof(FramingViolation.InvalidContentLength))]
    [InlineData(Post + "Content-Length: 5, 5\r\n\r\nhello", nameof(FramingViolation.InvalidContentLength))]
    [InlineData(Post + "Content-Length: \r\n\r\nhello", nameof(FramingViolation.InvalidContentLength))]
    [InlineData(Post + "Content-Length: \v5\r\n\r\nhello", nameof(FramingViolation.InvalidContentLength))]
    [InlineData(Post + "Content-Length: 99999999999999999999\r\n\r\nhello", nameof(FramingViolation.InvalidContentLength))] // past 64 bits
    [InlineData(Post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", nameof(FramingViolation.RepeatedContentLength))]
    [InlineData(Post + "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidTransferEncoding))] // policy: one "chunked" only
    [InlineData(Post + "Transfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidTransferEncoding))]
    [InlineData(Post + "Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidTransferEncoding))]
    [InlineData(Post + "Transfer-Encoding: \vchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidTransferEncoding))]
    [InlineData(Post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidTransferEncoding))]
    [InlineData(Post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.RepeatedTransferEncoding))]
    [InlineData("GET / HTTP/1.1\nHost: a\r\n\r\n", nameof(FramingViolation.BareLineFeed))]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n\n", nameof(FramingViolation.BareLineFeed))]
    [InlineData(ChunkedHead + "5\nhello\r\n0\r\n\r\n", nameof(FramingViolation.BareLineFeed))]
    [InlineData(ChunkedHead + "zz\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkSize))]
    [InlineData(ChunkedHead + "-5\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkSize))]
    [InlineData(ChunkedHead + "0x5\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkSize))]
    [InlineData(ChunkedHead + "\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkSize))]
    [InlineData(ChunkedHead + "5 \r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))] // BWS only before ";"
    [InlineData(ChunkedHead + "10000000000000005\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.ChunkSizeOverflow))]
    [InlineData(ChunkedHead + "FFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.ChunkSizeOverflow))]
    [InlineData(ChunkedHead + "5;\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))]
    [InlineData(ChunkedHead + "5;=x\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))]
    [InlineData(ChunkedHead + "5;a b\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))]
    [InlineData(ChunkedHead + "5;\u0001bad\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))]
    [InlineData(ChunkedHead + "5;a=\u0001\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))]
    [InlineData(ChunkedHead + "5;a=\"x\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))] // unclosed quote
    [InlineData(ChunkedHead + "5;a=\"x\u0000\"\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))]
    [InlineData(ChunkedHead + "5;a=\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))]
    [InlineData(ChunkedHead + "5;a\rb\r\nhello\r\n0\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))] // bare CR
    [InlineData(ChunkedHead + "5\r\nhello\r\n0;\u0001\r\n\r\n", nameof(FramingViolation.InvalidChunkExtension))] // on the last chunk too
    [InlineData(ChunkedHead + "5\r\nhelloXX\r\n0\r\n\r\n", nameof(FramingViolation.MissingCrLfAfterChunkData))]
    [InlineData(ChunkedHead + "5\r\nhello\n0\r\n\r\n", nameof(FramingViolation.MissingCrLfAfterChunkData))]
    [InlineData(ChunkedHead + "5\r\nhello\r\n0\r\nX: a\n\r\n", nameof(FramingViolation.BareLineFeed))] // in the trailer section
    public void Scan_Malformed_RefusedWithItsReason(string input, string expected)
    {
        foreach (var arrival in Enum.GetValues<Arrival>())
        {
            var (released, violation, _) = Run(input, arrival);

            Assert.Equal(expected, violation.ToString());
            Assert.True(released < input.Length, $"{arrival}: all {released} bytes were released");
        }
    }

    [Fact]
    public void Scan_BadHeadAfterGoodRequests_OnlyTheGoodOnesReleased()
    {
        const string good = "GET / HTTP/1.1\r\nHost: a\r\n\r\n" + ChunkedHead + "5\r\nhello\r\n0\r\n\r\n";

        var (released, violation, _) = Run(good + Post + "Content-Length: +5\r\n\r\nhello");

        Assert.Equal(FramingViolation.InvalidContentLength, violation);
        Assert.Equal(good.Length, released);
    }

    [Fact]
    public void Scan_SteadyState_AllocatesNothing()
    {
        var requests = Encoding.ASCII.GetBytes(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nContent-Type: x\r\n\r\n" +
            ChunkedHead + "5;name=value;q=\"x y\"\r\nhello\r\n0\r\n\r\n" +
            Post + "Content-Length: 5\r\n\r\nhello");
        var scanner = new RequestFramingScanner(8192);
        var buffer = new ReadOnlySequence<byte>(requests);
        for (var i = 0; i < 1000; i++)
        {
            scanner.Scan(buffer);
            scanner.Consumed(scanner.Released);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10000; i++)
        {
            scanner.Scan(buffer);
            scanner.Consumed(scanner.Released);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(FramingViolation.None, scanner.Violation);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Scan_IncompleteHead_HeldUntilItEnds()
    {
        var scanner = new RequestFramingScanner(8192);
        var head = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: a\r\n");

        scanner.Scan(new ReadOnlySequence<byte>(head));

        Assert.Equal(0, scanner.Released);
        Assert.Equal(head.Length, scanner.Scanned);
    }

    [Fact]
    public void Scan_HugeChunkSize_DataPassesAsItComes()
    {
        var scanner = new RequestFramingScanner(8192);
        var bytes = Encoding.ASCII.GetBytes(ChunkedHead + "7FFFFFFFFFFFFFFF\r\n" + new string('x', 1000));

        scanner.Scan(new ReadOnlySequence<byte>(bytes));

        Assert.Equal(FramingViolation.None, scanner.Violation);
        Assert.Equal(bytes.Length, scanner.Released);
    }

    [Fact]
    public void Scan_ChunkSizeLineOverItsLimit_Refused()
    {
        var (_, violation, _) = Run(ChunkedHead + "5;a=" + new string('b', RequestFramingScanner.MaxChunkSizeLine) + "\r\nhello\r\n0\r\n\r\n");

        Assert.Equal(FramingViolation.ChunkSizeLineTooLong, violation);
    }

    [Fact]
    public void Scan_HeadOverKestrelsLimits_ReleasedForKestrelToRefuse()
    {
        var (released, violation, passingThrough) = Run("GET / HTTP/1.1\r\nX-Big: " + new string('b', 300) + "\r\nContent-Length: +5\r\n\r\n", maxHeldHead: 200);

        // Past the request-line plus header limits Kestrel answers 431 and closes: nothing after it is read as a request.
        Assert.Equal(FramingViolation.None, violation);
        Assert.True(passingThrough);
        Assert.True(released > 200);
    }

    [Theory]
    [InlineData("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n")]
    [InlineData("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n")]
    [InlineData("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")]
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")]
    public void Scan_ProtocolMaySwitch_RestPassesUnread(string head)
    {
        var (released, violation, passingThrough) = Run(head + "\u0001not http at all\n");

        Assert.Equal(FramingViolation.None, violation);
        Assert.True(passingThrough);
        Assert.Equal(head.Length + 17, released);
    }

    [Fact]
    public async Task Reader_BadRequestAfterAGoodOne_KestrelGetsTheGoodOneThenARefusedLineThenTheEnd()
    {
        var pipe = new Pipe();
        FramingViolation? reported = null;
        var reader = new RequestFramingPipeReader(pipe.Reader, new RequestFramingScanner(8192), v => reported = v);
        const string good = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes(good + "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nG\r\n0\r\n\r\n"));

        var result = await reader.ReadAsync();

        Assert.Equal(good + "\0\r\n\r\n", Encoding.ASCII.GetString(result.Buffer));
        Assert.False(result.IsCompleted); // not yet: Kestrel still owes the good request its answer
        Assert.Equal(FramingViolation.ContentLengthAndTransferEncoding, reported);
        reader.AdvanceTo(result.Buffer.GetPosition(good.Length));
        result = await reader.ReadAsync();
        Assert.Equal("\0\r\n\r\n", Encoding.ASCII.GetString(result.Buffer));
        reader.AdvanceTo(result.Buffer.End);
        result = await reader.ReadAsync();
        Assert.True(result.IsCompleted);
        Assert.True(result.Buffer.IsEmpty);
    }

    [Fact]
    public async Task Reader_HeadArrivingInPieces_NothingUntilItIsWhole()
    {
        var pipe = new Pipe();
        var reader = new RequestFramingPipeReader(pipe.Reader, new RequestFramingScanner(8192), _ => { });
        await pipe.Writer.WriteAsync("GET / HTTP/1.1\r\n"u8.ToArray());

        var read = reader.ReadAsync();
        Assert.False(read.IsCompleted);
        await pipe.Writer.WriteAsync("Host: a\r\n\r\nGET"u8.ToArray());
        var result = await read;

        Assert.Equal("GET / HTTP/1.1\r\nHost: a\r\n\r\n", Encoding.ASCII.GetString(result.Buffer));
        Assert.False(result.IsCompleted);
    }

    [Fact]
    public async Task Reader_HeadArrivingInThreePiecesDuringOneWait_OneResultWhenWholeAndTheNextWaitWorksToo()
    {
        var pipe = new Pipe();
        var reader = new RequestFramingPipeReader(pipe.Reader, new RequestFramingScanner(8192), _ => { });

        var read = reader.ReadAsync();
        await pipe.Writer.WriteAsync("GET / HTTP/1.1\r\n"u8.ToArray());
        Assert.False(read.IsCompleted);
        await pipe.Writer.WriteAsync("Host: a\r\n"u8.ToArray());
        Assert.False(read.IsCompleted);
        await pipe.Writer.WriteAsync("\r\n"u8.ToArray());
        var result = await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("GET / HTTP/1.1\r\nHost: a\r\n\r\n", Encoding.ASCII.GetString(result.Buffer));
        reader.AdvanceTo(result.Buffer.End);

        // The same reader waits again (its one wait is reused), now for a second request.
        read = reader.ReadAsync();
        Assert.False(read.IsCompleted);
        await pipe.Writer.WriteAsync("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray());
        result = await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n", Encoding.ASCII.GetString(result.Buffer));
    }

    [Fact]
    public async Task Reader_WaitCanceled_ReturnsCanceledAndTheNextReadStillWorks()
    {
        var pipe = new Pipe();
        var reader = new RequestFramingPipeReader(pipe.Reader, new RequestFramingScanner(8192), _ => { });

        var read = reader.ReadAsync();
        reader.CancelPendingRead();
        var result = await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(result.IsCanceled);
        reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);

        await pipe.Writer.WriteAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray());
        result = await reader.ReadAsync();
        Assert.Equal("GET / HTTP/1.1\r\nHost: a\r\n\r\n", Encoding.ASCII.GetString(result.Buffer));
    }

    [Fact]
    public async Task Reader_InputFailsDuringAWait_TheWaitThrowsThatError()
    {
        var pipe = new Pipe();
        var reader = new RequestFramingPipeReader(pipe.Reader, new RequestFramingScanner(8192), _ => { });

        var read = reader.ReadAsync();
        await pipe.Writer.CompleteAsync(new IOException("connection reset"));

        var error = await Assert.ThrowsAsync<IOException>(async () => await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("connection reset", error.Message);
    }
}
