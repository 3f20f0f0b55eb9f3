using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Meshgate.Proxy.RequestHygiene;

/// <summary>
/// The connection's input as Kestrel reads it: the same bytes, in the same buffers (no copy), but
/// only as far as <see cref="RequestFramingScanner"/> has released them. Once the scanner refuses a
/// request, Kestrel gets what was released before it and then <see cref="Refusal"/>, a request line
/// it refuses itself (400, Connection: close), and then the end of the input: so the client sees the
/// same answer as for every framing error Kestrel finds on its own, and the bad request never reaches
/// Kestrel whole. In the body of a chunked request the same bytes are a bad chunk size or chunk end,
/// which Kestrel refuses while RequestHygieneMiddleware reads the body ahead.
/// </summary>
internal sealed class RequestFramingPipeReader(PipeReader inner, RequestFramingScanner scanner, Action<FramingViolation> onViolation) : PipeReader, IValueTaskSource<ReadResult>
{
    /// <summary>NUL is not a token character, a hex digit, or CR: refused as a request line, a chunk size, a chunk end or a trailer line.</summary>
    private static readonly byte[] Refusal = "\0\r\n\r\n"u8.ToArray();

    private ReadOnlySequence<byte> _buffer;
    private long _examined;
    private ReadOnlySequence<byte>? _refused;
    private bool _refusalExamined;

    // The one wait in progress (see Wait): its result for Kestrel, the inner read it waits on, and that read's token.
    // The continuation runs where the inner read completed, as the pipe's own continuations do.
    private ManualResetValueTaskSourceCore<ReadResult> _waiting;
    private ValueTaskAwaiter<ReadResult> _pending;
    private CancellationToken _waitToken;
    private Action? _onInnerRead;

    public override bool TryRead(out ReadResult result)
    {
        if (_refused is { } refused)
        {
            result = Refused(refused);
            return true;
        }
        while (inner.TryRead(out var innerResult))
        {
            if (TryRelease(innerResult, out result)) return true;
            inner.AdvanceTo(_buffer.Start, _buffer.End);
        }
        result = default;
        return false;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_refused is { } refused) return new(Refused(refused));
        while (true)
        {
            var pending = inner.ReadAsync(cancellationToken);
            if (!pending.IsCompletedSuccessfully) return Wait(pending, cancellationToken);
            if (TryRelease(pending.Result, out var result)) return new(result);
            // Everything new is held (part of a head or a chunk-size line): wait for more.
            inner.AdvanceTo(_buffer.Start, _buffer.End);
        }
    }

    /// <summary>
    /// Kestrel waits on this reader itself (it is the value-task source), so a wait costs no object: an async method
    /// here boxed its state machine whenever more connections waited at once than the per-core pools hold, and an
    /// idle keep-alive connection kept that box for as long as it waited. One wait at a time, as a pipe allows.
    /// </summary>
    private ValueTask<ReadResult> Wait(ValueTask<ReadResult> pending, CancellationToken cancellationToken)
    {
        _waiting.Reset();
        _waitToken = cancellationToken;
        _pending = pending.GetAwaiter();
        _pending.UnsafeOnCompleted(_onInnerRead ??= OnInnerRead);
        return new(this, _waiting.Version);
    }

    /// <summary>The inner read ended: release what the scanner allows, or read on until it allows something.</summary>
    private void OnInnerRead()
    {
        try
        {
            while (true)
            {
                if (TryRelease(_pending.GetResult(), out var result))
                {
                    _waiting.SetResult(result);
                    return;
                }
                inner.AdvanceTo(_buffer.Start, _buffer.End);
                _pending = inner.ReadAsync(_waitToken).GetAwaiter();
                if (!_pending.IsCompleted)
                {
                    _pending.UnsafeOnCompleted(_onInnerRead!);
                    return;
                }
            }
        }
        catch (Exception e)
        {
            _waiting.SetException(e);
        }
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _waiting.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _waiting.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _waiting.OnCompleted(continuation, state, token, flags);

    /// <summary>Scans what is new; true when Kestrel has something to read (new released bytes, the end, a cancel, or the refusal).</summary>
    private bool TryRelease(in ReadResult innerResult, out ReadResult result)
    {
        _buffer = innerResult.Buffer;
        scanner.Scan(_buffer);
        if (scanner.Violation != FramingViolation.None)
        {
            result = Refused(Refuse());
            return true;
        }
        var released = scanner.Released;
        if (released > _examined || innerResult.IsCompleted || innerResult.IsCanceled)
        {
            // At the end of the input a held, incomplete head or chunk-size line stays held: Kestrel sees the end.
            result = new ReadResult(released == _buffer.Length ? _buffer : _buffer.Slice(0, released), innerResult.IsCanceled, innerResult.IsCompleted);
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>
    /// The end of the input is reported only once Kestrel has consumed the refusal: Kestrel treats an input that
    /// ends while a request is in progress as the client going away, and would drop the answers still owed.
    /// It is also reported once Kestrel has examined all of the refusal and asks for more.
    /// </summary>
    private ReadResult Refused(ReadOnlySequence<byte> rest) => new(rest, false, rest.IsEmpty || _refusalExamined);

    /// <summary>The only allocating path: a copy of what Kestrel has not consumed yet, followed by the refusal.</summary>
    private ReadOnlySequence<byte> Refuse()
    {
        var released = _buffer.Slice(0, scanner.Released);
        var bytes = new byte[released.Length + Refusal.Length];
        released.CopyTo(bytes);
        Refusal.CopyTo(bytes.AsSpan((int)released.Length));
        inner.AdvanceTo(_buffer.End);
        _buffer = default;
        _refused = new ReadOnlySequence<byte>(bytes);
        onViolation(scanner.Violation);
        return _refused.Value;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_refused is { } refused)
        {
            // Kestrel looked at all of it and wants more (it should not): then the input ends, rather than a busy loop.
            _refusalExamined = refused.Slice(examined).IsEmpty;
            _refused = refused.Slice(consumed);
            return;
        }
        // Not _buffer.GetOffset: on a single segment it counts from the segment's start, not the buffer's.
        var consumedBytes = _buffer.Slice(0, consumed).Length;
        var examinedBytes = _buffer.Slice(0, examined).Length;
        scanner.Consumed(consumedBytes);
        _examined = examinedBytes - consumedBytes;
        // Kestrel left released bytes unexamined: the next read must return at once. Otherwise everything in
        // the buffer has been looked at (by Kestrel, or by the scanner that holds it), and the next read waits for more.
        inner.AdvanceTo(consumed, scanner.Released > _examined ? examined : _buffer.End);
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
}
