using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// One keep-alive HTTP/1.1 connection to an upstream: the socket, its stream (the socket's, or TLS over it), its pipes,
/// and what one request at a time on it needs again and again (the activity timeout's cancellation source, the last
/// value seen per known response header), so that a request over a pooled connection makes none of these anew.
/// </summary>
internal sealed class Http1Connection : IDisposable
{
    // Reads of up to 64 KiB, as YARP's body copy uses: each read's bytes go to the client in one write, and in the gateway's
    // event-loop mode (inline socket work) a write is a send at once, so 4 KiB reads made a 64 KiB body 16 receives and 16
    // sends (1.5x the CPU per request of the thread pool, which merged the sends). Rented per read and returned when
    // consumed, so an idle pooled connection holds none.
    private static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: 65536, minimumReadSize: 4096, leaveOpen: true);
    private static readonly StreamPipeWriterOptions WriterOptions = new(minimumBufferSize: 4096, leaveOpen: true);

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly string?[] _values = new string?[Http1HeaderNames.KnownCount];
    private bool _disposed;

    /// <param name="stream">The socket's NetworkStream (owning the socket), or an SslStream over it.</param>
    public Http1Connection(Socket socket, Stream stream, Http1Destination destination, CancellationTokenSource activity)
    {
        _socket = socket;
        _stream = stream;
        Reader = PipeReader.Create(_stream, ReaderOptions);
        Writer = PipeWriter.Create(_stream, WriterOptions);
        Destination = destination;
        Activity = activity;
    }

    public PipeReader Reader { get; }

    public PipeWriter Writer { get; }

    public Http1Destination Destination { get; }

    /// <summary>Cancelled by the request's abort token or when the upstream is silent for the cluster's activity timeout.</summary>
    public CancellationTokenSource Activity { get; private set; }

    /// <summary>When the connection went back to the pool (Stopwatch ticks).</summary>
    public long IdleSince { get; set; }

    /// <summary>The connection has served a request before this one, so the upstream may have closed it meanwhile.</summary>
    public bool Reused { get; set; }

    /// <summary>
    /// Whether the upstream closed the idle connection (or sent bytes nobody asked for): a readable socket with
    /// nothing to read. One poll, made only before a request whose body could not be sent again.
    /// </summary>
    public bool LooksClosed()
    {
        try
        {
            return _socket.Poll(0, SelectMode.SelectRead);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return true;
        }
    }

    /// <summary>The string for a known header's value: the one seen last on this connection when the bytes are the same.</summary>
    public string Value(int slot, ReadOnlySpan<byte> bytes)
    {
        if (slot < 0) return Encoding.Latin1.GetString(bytes);
        var last = _values[slot];
        if (last is not null && last.Length == bytes.Length && Ascii.Equals(bytes, last)) return last;
        return _values[slot] = Encoding.Latin1.GetString(bytes);
    }

    /// <summary>Makes the activity source ready for the next request; false when it fired (the connection is then done).</summary>
    public bool ResetActivity() => Activity.TryReset();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already reset by the upstream.
        }
        _stream.Dispose();
        // Completing returns the pipes' buffers to their pool; the writer would flush what a failed request left
        // in it, which the closed stream refuses.
        try
        {
            Writer.Complete();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
        Reader.Complete();
        Activity.Dispose();
    }
}
