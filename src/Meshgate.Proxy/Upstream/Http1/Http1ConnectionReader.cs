using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// The upstream connection's reader: one array, rented while unread bytes are in it, that the stream reads into (with
/// nothing unread, a read first waits for bytes without an array, by a zero-byte read). It
/// replaces the framework's StreamPipeReader, whose segments, memory-pool owners and two cancellation registrations per
/// read (the pipe's and the socket's) were about 3 % of the gateway's CPU on a plain route. Over plain TCP there is no
/// cancellation per read: the connection closes its socket when its activity source fires, which ends a pending read, and
/// the read then reports the cancellation as the token would have. Over TLS the stream takes the activity token with each
/// read (<c>streamTakesToken</c>): closing the socket under a pending SslStream read did not end it (the mesh's timeout
/// test waited for the upstream's late answer), so there the cancellation goes through SslStream as before.
/// </summary>
/// <remarks>
/// PipeReader's contract as the direct path uses it: a read returns what is unread at once unless all of it was
/// examined, else waits for more; <see cref="AdvanceTo(SequencePosition, SequencePosition)"/> takes positions of the
/// last buffer returned. Positions of an array-backed sequence are indexes into that array.
/// </remarks>
internal sealed class Http1ConnectionReader(Stream stream, CancellationToken activity, bool streamTakesToken) : PipeReader, IValueTaskSource<ReadResult>
{
    // Reads of up to 64 KiB, as YARP's body copy uses: each read's bytes go to the client in one write, and in the gateway's
    // event-loop mode (inline socket work) a write is a send at once, so 4 KiB reads made a 64 KiB body 16 receives and 16
    // sends (1.5x the CPU per request of the thread pool, which merged the sends).
    private const int BufferSize = 64 * 1024;

    // A read into less room than this moves the unread bytes to the front of the array first (or grows it).
    private const int MinimumRead = 4096;

    private byte[]? _buffer;
    private int _start;
    private int _end;
    private bool _examinedAll;
    private bool _ended;

    // A read that waits completes through these, made once per connection: an async method here would allocate its state
    // machine for every wait of every request with more requests in flight than the pool of such boxes holds.
    private ManualResetValueTaskSourceCore<ReadResult> _pending;
    private ConfiguredValueTaskAwaitable<int>.ConfiguredValueTaskAwaiter _read;
    private Action? _onRead;
    private Action? _onReady;

    public override bool TryRead(out ReadResult result)
    {
        if (_ended || (_end > _start && !_examinedAll))
        {
            result = new ReadResult(Unread(), isCanceled: false, _ended);
            return true;
        }
        result = default;
        return false;
    }

    /// <param name="cancellationToken">Not observed: the connection's activity token ends the read (see the class).</param>
    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (TryRead(out var result)) return new ValueTask<ReadResult>(result);
        if (_buffer is null)
        {
            // Nothing unread, so no array held: wait for the upstream's bytes with a zero-byte read before taking one, as
            // Kestrel waits on its client connections. Renting first held an array through every wait for an answer, and
            // with more answers awaited at once than the shared pool keeps (64 connections of the bench against its 32
            // per core), every request allocated 16 KB and the process took a page fault per five requests.
            var ready = Read(Memory<byte>.Empty);
            if (!ready.IsCompletedSuccessfully) return Pending(ready, _onReady ??= OnReady);
        }
        var read = Read(MakeRoom());
        if (read.IsCompletedSuccessfully) return new ValueTask<ReadResult>(Received(read.Result));
        return Pending(read, _onRead ??= OnRead);
    }

    private ValueTask<int> Read(Memory<byte> room)
    {
        try
        {
            return stream.ReadAsync(room, streamTakesToken ? activity : default);
        }
        catch (Exception e) when (activity.IsCancellationRequested)
        {
            throw Http1Connection.Closed(e, activity);
        }
    }

    private ValueTask<ReadResult> Pending(ValueTask<int> read, Action continuation)
    {
        _pending.Reset();
        _read = read.ConfigureAwait(false).GetAwaiter();
        _read.UnsafeOnCompleted(continuation);
        return new ValueTask<ReadResult>(this, _pending.Version);
    }

    /// <summary>The zero-byte read ended: bytes are there (or the upstream closed), so the real read rarely waits.</summary>
    private void OnReady()
    {
        ValueTask<int> read;
        try
        {
            _read.GetResult();
        }
        catch (Exception e)
        {
            _pending.SetException(Failure(e));
            return;
        }
        try
        {
            read = Read(MakeRoom());
        }
        catch (Exception e)
        {
            // Read reports the activity's cancellation itself.
            _pending.SetException(e);
            return;
        }
        if (read.IsCompletedSuccessfully)
        {
            _pending.SetResult(Received(read.Result));
            return;
        }
        _read = read.ConfigureAwait(false).GetAwaiter();
        _read.UnsafeOnCompleted(_onRead ??= OnRead);
    }

    private void OnRead()
    {
        try
        {
            _pending.SetResult(Received(_read.GetResult()));
        }
        catch (Exception e)
        {
            _pending.SetException(Failure(e));
        }
    }

    /// <summary>A failed read as the caller sees it: the activity's cancellation when the source closed the socket under it.</summary>
    private Exception Failure(Exception e) => activity.IsCancellationRequested ? Http1Connection.Closed(e, activity) : e;

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _pending.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _pending.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _pending.OnCompleted(continuation, state, token, flags);

    private ReadResult Received(int count)
    {
        if (count == 0) _ended = true;
        _end += count;
        _examinedAll = false;
        return new ReadResult(Unread(), isCanceled: false, _ended);
    }

    /// <summary>Free room at the end of the array: at least <see cref="MinimumRead"/> bytes, the unread ones kept in front of it.</summary>
    private Memory<byte> MakeRoom()
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        }
        else if (_buffer.Length - _end < MinimumRead)
        {
            var unread = _end - _start;
            // A response head longer than the array (its limit is checked by the head's reader) gets a larger one.
            var target = unread + MinimumRead <= _buffer.Length ? _buffer : ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            _buffer.AsSpan(_start, unread).CopyTo(target);
            if (target != _buffer)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = target;
            }
            _start = 0;
            _end = unread;
        }
        return _buffer.AsMemory(_end);
    }

    private ReadOnlySequence<byte> Unread() =>
        _buffer is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_buffer, _start, _end - _start);

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_buffer is null) return;
        _start = consumed.GetInteger();
        _examinedAll = examined.GetInteger() >= _end;
        // Nothing unread: the array goes back, so an idle pooled connection holds none.
        if (_start == _end) ReturnBuffer();
    }

    /// <summary>Nothing on the direct path cancels a read this way (the activity token does, see the class).</summary>
    public override void CancelPendingRead() => throw new NotSupportedException();

    public override void Complete(Exception? exception = null) => ReturnBuffer();

    private void ReturnBuffer()
    {
        if (_buffer is null) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
        _start = _end = 0;
        _examinedAll = false;
    }
}
