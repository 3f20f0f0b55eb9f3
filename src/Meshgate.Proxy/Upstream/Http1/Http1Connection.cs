using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// One keep-alive HTTP/1.1 connection to an upstream: the socket, its stream (the socket's, or TLS over it), its reader
/// and writer, and what one request at a time on it needs again and again (the activity timeout's cancellation source,
/// the last value seen per known response header), so that a request over a pooled connection makes none of these anew.
/// </summary>
internal sealed class Http1Connection : IDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly string?[] _values = new string?[Http1HeaderNames.KnownCount];
    private readonly CancellationTokenRegistration _closeOnActivity;
    private bool _disposed;

    /// <param name="stream">The socket's NetworkStream or EpollStream (owning the socket), or an SslStream over it.</param>
    /// <param name="close">What closes the socket under a pending read or write: the socket, or its EpollSocket.</param>
    public Http1Connection(Socket socket, Stream stream, IDisposable close, Http1Destination destination, CancellationTokenSource activity)
    {
        _socket = socket;
        _stream = stream;
        // Over TLS each read and write takes the token too: closing the socket does not end a pending SslStream read.
        var streamTakesToken = stream is SslStream;
        Reader = new Http1ConnectionReader(stream, activity.Token, streamTakesToken);
        Writer = new Http1ConnectionWriter(stream, activity.Token, streamTakesToken);
        Destination = destination;
        Activity = activity;
        // Once for the connection's life, not per read and write: the source fires only to end the connection (a request's
        // abort or the upstream's silence), and closing the socket ends whatever read or write is pending on it.
        _closeOnActivity = activity.Token.UnsafeRegister(static s => ((IDisposable)s!).Dispose(), close);
    }

    /// <summary>What a read or write reports when the activity source closed the connection under it.</summary>
    internal static OperationCanceledException Closed(Exception e, CancellationToken activity) =>
        new("The upstream connection's activity timeout or the request's abort closed it.", e, activity);

    public Http1ConnectionReader Reader { get; }

    /// <summary>The direct path's sink for response heads on this connection (one request at a time).</summary>
    public Http1ResponseReader.ContextSink ContextSink => _contextSink ??= new(this);

    private Http1ResponseReader.ContextSink? _contextSink;

    public Http1ConnectionWriter Writer { get; }

    public Http1Destination Destination { get; }

    /// <summary>
    /// Cancelled by the request's abort token or when the upstream is silent for the cluster's activity timeout; then the
    /// socket is closed, and the connection is not used again.
    /// </summary>
    public CancellationTokenSource Activity { get; private set; }

    /// <summary>The index of the epoll loop that serves the connection's socket; -1 on .NET's sockets.</summary>
    public int Loop { get; init; } = -1;

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
        // Returns the reader's and writer's arrays to their pool (what a failed request left unsent is dropped).
        Writer.Complete();
        Reader.Complete();
        _closeOnActivity.Dispose();
        Activity.Dispose();
    }
}
