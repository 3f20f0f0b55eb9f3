namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>Where the writer puts lines. Used by the writer alone; every call may throw <see cref="IOException"/>.</summary>
internal abstract class AccessLogOutput : IDisposable
{
    /// <summary>Takes one whole line (newline included); it may be buffered until <see cref="Flush"/>.</summary>
    public abstract void Append(ReadOnlySpan<byte> line);

    /// <summary>Hands everything appended so far to the operating system.</summary>
    public abstract void Flush();

    public abstract void Dispose();
}

/// <summary>
/// Standard output, shared with the process log. Lines are written in pieces of at most 4 KiB cut at line
/// ends: a pipe writes that much atomically, so a process-log line never lands inside an access-log line.
/// </summary>
internal sealed class StdoutAccessLogOutput : AccessLogOutput
{
    private const int AtomicPipeWrite = 4096;

    private readonly Stream _stdout = Console.OpenStandardOutput();
    private readonly byte[] _pending = new byte[AtomicPipeWrite];
    private int _length;

    public override void Append(ReadOnlySpan<byte> line)
    {
        if (_length + line.Length > _pending.Length) WritePending();
        if (line.Length > _pending.Length)
        {
            _stdout.Write(line);
            return;
        }
        line.CopyTo(_pending.AsSpan(_length));
        _length += line.Length;
    }

    public override void Flush()
    {
        WritePending();
        _stdout.Flush();
    }

    private void WritePending()
    {
        if (_length == 0) return;
        var length = _length;
        _length = 0;
        _stdout.Write(_pending, 0, length);
    }

    public override void Dispose() => Flush();
}
