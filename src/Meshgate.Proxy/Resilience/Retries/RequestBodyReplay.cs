using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.Proxy.Resilience.Retries;

/// <summary>
/// Keeps a request body of up to maxBufferedBody in memory so every attempt can send it again. A larger
/// body (declared by Content-Length, or found while reading one of unknown length) is streamed once,
/// and the request is not retried.
/// </summary>
internal static class RequestBodyReplay
{
    /// <summary>Whether the request can be sent again: it has no body, or the body is now held in memory.</summary>
    public static async ValueTask<bool> PrepareAsync(HttpContext context, long maxBufferedBody)
    {
        var request = context.Request;
        if (request.ContentLength is { } length)
        {
            if (length == 0) return true;
            if (length > maxBufferedBody) return false;
        }
        else if (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != true)
        {
            return true;
        }

        var limit = (int)Math.Min(maxBufferedBody, int.MaxValue - 1);
        var buffer = new byte[request.ContentLength is { } known ? (int)known : Math.Min(limit + 1, 16 * 1024)];
        var filled = 0;
        var original = request.Body;
        while (true)
        {
            if (filled == buffer.Length)
            {
                if (filled > limit) break;
                Array.Resize(ref buffer, Math.Min(limit + 1, buffer.Length * 2));
            }
            var read = await original.ReadAsync(buffer.AsMemory(filled), context.RequestAborted);
            if (read == 0)
            {
                request.Body = new MemoryStream(buffer, 0, filled, writable: false);
                return true;
            }
            filled += read;
        }
        // Longer than the limit: what was read goes first, then the rest straight from the client.
        request.Body = new PrefixedStream(buffer, filled, original);
        return false;
    }

    /// <summary>Rewinds the buffered body before a retry.</summary>
    public static void Rewind(HttpContext context)
    {
        if (context.Request.Body is MemoryStream buffered) buffered.Position = 0;
    }

    private sealed class PrefixedStream(byte[] prefix, int prefixLength, Stream rest) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_position < prefixLength) return CopyPrefix(buffer);
            return rest.Read(buffer);
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _position < prefixLength ? ValueTask.FromResult(CopyPrefix(buffer.Span)) : rest.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int CopyPrefix(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, prefixLength - _position);
            prefix.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
