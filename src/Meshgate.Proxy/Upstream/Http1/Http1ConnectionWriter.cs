using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// The upstream connection's writer: one array, rented while unsent bytes are in it; a flush writes them to the stream in
/// one call. It replaces the framework's StreamPipeWriter (segments, memory-pool owners and a cancellation registration
/// per flush). As for <see cref="Http1ConnectionReader"/>, the connection's activity token ends a pending write by closing
/// the socket, and the flush then reports the cancellation.
/// </summary>
internal sealed class Http1ConnectionWriter(Stream stream, CancellationToken activity, bool streamTakesToken) : PipeWriter
{
    private const int MinimumBuffer = 4096;

    private byte[]? _buffer;
    private int _written;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Reserve(int sizeHint)
    {
        var needed = Math.Max(sizeHint, 1);
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(needed, MinimumBuffer));
        }
        else if (_buffer.Length - _written < needed)
        {
            // A head longer than the array (many or long headers): a larger one, with what is written so far.
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _written + needed));
            _buffer.AsSpan(0, _written).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
    }

    public override void Advance(int bytes)
    {
        if (_buffer is null || bytes < 0 || _written + bytes > _buffer.Length) throw new ArgumentOutOfRangeException(nameof(bytes));
        _written += bytes;
    }

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _written;

    /// <param name="cancellationToken">Not observed: the connection's activity token ends the write (see the class).</param>
    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_written == 0) return new ValueTask<FlushResult>(default(FlushResult));
        ValueTask write;
        try
        {
            write = stream.WriteAsync(_buffer.AsMemory(0, _written), streamTakesToken ? activity : default);
        }
        catch (Exception e) when (activity.IsCancellationRequested)
        {
            throw Http1Connection.Closed(e, activity);
        }
        if (write.IsCompletedSuccessfully)
        {
            Sent();
            return new ValueTask<FlushResult>(default(FlushResult));
        }
        return FlushPendingAsync(write);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> FlushPendingAsync(ValueTask write)
    {
        try
        {
            await write;
        }
        catch (Exception e) when (activity.IsCancellationRequested)
        {
            throw Http1Connection.Closed(e, activity);
        }
        Sent();
        return default;
    }

    /// <summary>All was written: the array goes back, so an idle pooled connection holds none.</summary>
    private void Sent()
    {
        _written = 0;
        if (_buffer is null) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
    }

    /// <summary>Nothing on the direct path cancels a flush this way (the activity token does, see the class).</summary>
    public override void CancelPendingFlush() => throw new NotSupportedException();

    /// <summary>Drops what was not flushed (a failed request's); the connection is closed after it.</summary>
    public override void Complete(Exception? exception = null) => Sent();
}
