namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// A file that is rotated by size: before a line would take it past the limit, <c>access.log</c> becomes
/// <c>access.log.1</c>, <c>.1</c> becomes <c>.2</c> ... up to the number of files kept, the oldest is
/// deleted, and a new file is started. Rotation happens between lines, so no line is split; a line longer
/// than the limit gets a file of its own.
/// </summary>
internal sealed class RotatingFileAccessLogOutput : AccessLogOutput
{
    private const int BufferSize = 64 * 1024;

    private readonly byte[] _pending = new byte[BufferSize];
    private int _length;
    private FileStream _file;
    private long _size;

    /// <summary>Opens (appends to) the file; throws when it cannot.</summary>
    public RotatingFileAccessLogOutput(string path, long maxFileSize, int maxFiles)
    {
        Path = path;
        MaxFileSize = maxFileSize;
        MaxFiles = maxFiles;
        _file = Open(path, out _size);
    }

    public string Path { get; }

    /// <summary>Settable so a reload that changes only the limits keeps the file open.</summary>
    public long MaxFileSize { get; set; }

    public int MaxFiles { get; set; }

    public override void Append(ReadOnlySpan<byte> line)
    {
        var written = _size + _length;
        if (written > 0 && written + line.Length > MaxFileSize)
        {
            WritePending();
            Rotate();
        }
        if (_length + line.Length > _pending.Length) WritePending();
        if (line.Length > _pending.Length)
        {
            _file.Write(line);
            _size += line.Length;
            return;
        }
        line.CopyTo(_pending.AsSpan(_length));
        _length += line.Length;
    }

    public override void Flush() => WritePending();

    private void WritePending()
    {
        if (_length == 0) return;
        var length = _length;
        _length = 0;
        _file.Write(_pending, 0, length);
        _size += length;
    }

    private void Rotate()
    {
        _file.Dispose();
        try
        {
            File.Delete($"{Path}.{MaxFiles}");
            for (var i = MaxFiles - 1; i >= 1; i--)
            {
                if (File.Exists($"{Path}.{i}")) File.Move($"{Path}.{i}", $"{Path}.{i + 1}", overwrite: true);
            }
            File.Move(Path, $"{Path}.1", overwrite: true);
        }
        finally
        {
            // Also when a rename failed: the file is then appended to again rather than left closed.
            _file = Open(Path, out _size);
        }
    }

    private static FileStream Open(string path, out long size)
    {
        // No FileStream buffer (lines are batched above); others may read, rename and delete it meanwhile (tail -F, log shippers).
        var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        size = file.CanSeek ? file.Seek(0, SeekOrigin.End) : 0;
        return file;
    }

    public override void Dispose()
    {
        try
        {
            WritePending();
        }
        finally
        {
            _file.Dispose();
        }
    }
}
