using System.Buffers;
using System.IO.Pipelines;
using System.Net.Http;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>A failure of one side of a body copy, named as YARP's forwarder names it.</summary>
internal sealed class Http1ForwardException(ForwarderError error, Exception inner) : Exception(inner.Message, inner)
{
    public ForwarderError Error { get; } = error;
}

/// <summary>
/// The two body copies of the direct path: the client's request body onto the upstream connection (Content-Length
/// as it came, or re-chunked when the length is unknown), and the upstream's response body (Content-Length, chunked or
/// close-delimited) onto the client's response. Each read counts as activity: the cluster's activity timeout is
/// restarted, as YARP's stream copier does (for the response, before each wait rather than after each read, which is the
/// same clock with fewer timer changes).
/// </summary>
internal static class Http1Body
{
    /// <summary>Chunks are at most this long so that their size fits the four hex digits reserved in front of them.</summary>
    private const int MaxChunk = 0xFFFF;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public static async ValueTask SendAsync(HttpContext context, Http1Connection connection, RequestBody kind, TimeSpan activityTimeout, CancellationToken cancellationToken)
    {
        var writer = connection.Writer;
        var body = context.Request.Body;
        var chunked = kind == RequestBody.Chunked;
        // Chunked: "XXXX\r\n" goes in front of the data read straight into the pipe's memory, "\r\n" after it.
        var front = chunked ? 6 : 0;
        var back = chunked ? 2 : 0;
        while (true)
        {
            var memory = writer.GetMemory(8192);
            var room = Math.Min(memory.Length - front - back, MaxChunk);
            int read;
            try
            {
                read = await body.ReadAsync(memory.Slice(front, room), cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new Http1ForwardException(ForwarderError.RequestBodyClient, e);
            }
            if (read == 0) break;
            connection.Activity.CancelAfter(activityTimeout);
            if (chunked)
            {
                var span = memory.Span;
                System.Buffers.Text.Utf8Formatter.TryFormat(read, span[..4], out _, new System.Buffers.StandardFormat('X', 4));
                span[4] = (byte)'\r';
                span[5] = (byte)'\n';
                span[front + read] = (byte)'\r';
                span[front + read + 1] = (byte)'\n';
            }
            writer.Advance(front + read + back);
            await FlushAsync(writer, ForwarderError.RequestBodyDestination, cancellationToken);
        }
        if (chunked) writer.Write("0\r\n\r\n"u8);
        await FlushAsync(writer, ForwarderError.RequestBodyDestination, cancellationToken);
    }

    /// <summary>Flushes the connection's writer; an upstream that is gone is <paramref name="error"/>.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public static async ValueTask FlushAsync(Http1ConnectionWriter writer, ForwarderError error, CancellationToken cancellationToken)
    {
        try
        {
            await writer.FlushAsync(cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new Http1ForwardException(error, e);
        }
    }

    /// <summary>Copies the response body to the client; returns whether it was read to its end (the connection may then be reused).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<bool> CopyResponseAsync(Stream output, Http1Connection connection, ResponseHead head, TimeSpan activityTimeout, CancellationToken cancellationToken)
    {
        var reader = connection.Reader;
        switch (head.Body)
        {
            case ResponseBody.None:
                return true;
            case ResponseBody.ContentLength:
                await CopyAsync(reader, output, head.Length, connection, activityTimeout, cancellationToken);
                return true;
            case ResponseBody.UntilClose:
                await CopyAsync(reader, output, long.MaxValue, connection, activityTimeout, cancellationToken);
                return false;
        }

        // Chunked: size line, data, CRLF; then the last chunk and trailers (not passed on: an HTTP/1.1 client gets none from YARP either).
        while (true)
        {
            var size = await ReadChunkSizeAsync(reader, connection, activityTimeout, cancellationToken);
            if (size == 0)
            {
                await SkipTrailersAsync(reader, cancellationToken);
                return true;
            }
            await CopyAsync(reader, output, size, connection, activityTimeout, cancellationToken);
            await ExpectCrlfAsync(reader, cancellationToken);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask CopyAsync(Http1ConnectionReader reader, Stream output, long length, Http1Connection connection, TimeSpan activityTimeout, CancellationToken cancellationToken)
    {
        var remaining = length;
        while (remaining > 0)
        {
            // The activity timeout counts from the last bytes received: its clock restarts only before a wait for more.
            if (!reader.TryRead(out var result))
            {
                connection.Activity.CancelAfter(activityTimeout);
                result = await ReadAsync(reader, cancellationToken);
            }
            var buffer = result.Buffer;
            if (buffer.IsEmpty && result.IsCompleted)
            {
                if (length == long.MaxValue) return;
                throw new Http1ForwardException(ForwarderError.ResponseBodyDestination, new HttpRequestException(HttpRequestError.ResponseEnded, "The upstream closed the connection before the end of the response body."));
            }
            var take = buffer.Length > remaining ? buffer.Slice(0, remaining) : buffer;
            try
            {
                foreach (var segment in take)
                {
                    await output.WriteAsync(segment, cancellationToken);
                }
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                reader.AdvanceTo(take.End);
                throw new Http1ForwardException(ForwarderError.ResponseBodyClient, e);
            }
            remaining -= take.Length;
            reader.AdvanceTo(take.End);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<ReadResult> ReadAsync(Http1ConnectionReader reader, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.ReadAsync(cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new Http1ForwardException(ForwarderError.ResponseBodyDestination, e);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<long> ReadChunkSizeAsync(Http1ConnectionReader reader, Http1Connection connection, TimeSpan activityTimeout, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await ReadAsync(reader, cancellationToken);
            var buffer = result.Buffer;
            var sequence = new SequenceReader<byte>(buffer);
            if (sequence.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
            {
                var size = ParseChunkSize(line);
                reader.AdvanceTo(sequence.Position);
                connection.Activity.CancelAfter(activityTimeout);
                return size;
            }
            if (buffer.Length > 4096) throw Malformed("The upstream sent a chunk-size line longer than 4 KiB.");
            if (result.IsCompleted) throw Malformed("The upstream closed the connection inside a chunked body.");
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static long ParseChunkSize(ReadOnlySequence<byte> line)
    {
        Span<byte> copy = stackalloc byte[64];
        scoped ReadOnlySpan<byte> span;
        if (line.IsSingleSegment)
        {
            span = line.FirstSpan;
        }
        else
        {
            var length = (int)Math.Min(line.Length, copy.Length);
            line.Slice(0, length).CopyTo(copy);
            span = copy[..length];
        }
        // chunk-size [; extensions]
        var semicolon = span.IndexOf((byte)';');
        var digits = (semicolon < 0 ? span : span[..semicolon]).Trim(" \t"u8);
        if (digits.Length is 0 or > 15) throw Malformed("The upstream sent an invalid chunk size.");
        long size = 0;
        foreach (var b in digits)
        {
            var value = b switch
            {
                >= (byte)'0' and <= (byte)'9' => b - '0',
                >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
                _ => throw Malformed("The upstream sent an invalid chunk size."),
            };
            size = size * 16 + value;
        }
        return size;
    }

    private static async ValueTask ExpectCrlfAsync(Http1ConnectionReader reader, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await ReadAsync(reader, cancellationToken);
            var buffer = result.Buffer;
            if (buffer.Length >= 2)
            {
                Span<byte> two = stackalloc byte[2];
                buffer.Slice(0, 2).CopyTo(two);
                if (two[0] != '\r' || two[1] != '\n') throw Malformed("The upstream's chunk data is not followed by CRLF.");
                reader.AdvanceTo(buffer.GetPosition(2));
                return;
            }
            if (result.IsCompleted) throw Malformed("The upstream closed the connection inside a chunked body.");
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static async ValueTask SkipTrailersAsync(Http1ConnectionReader reader, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await ReadAsync(reader, cancellationToken);
            var buffer = result.Buffer;
            var sequence = new SequenceReader<byte>(buffer);
            // Trailer lines until an empty one.
            var done = false;
            while (sequence.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
            {
                if (line.IsEmpty)
                {
                    done = true;
                    break;
                }
            }
            if (done)
            {
                reader.AdvanceTo(sequence.Position);
                return;
            }
            if (buffer.Length > Http1ResponseReader.MaxHeadBytes) throw Malformed("The upstream's trailers are longer than 64 KiB.");
            if (result.IsCompleted) throw Malformed("The upstream closed the connection inside the trailers.");
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static Http1ForwardException Malformed(string message) =>
        new(ForwarderError.ResponseBodyDestination, new HttpRequestException(HttpRequestError.InvalidResponse, message));
}
