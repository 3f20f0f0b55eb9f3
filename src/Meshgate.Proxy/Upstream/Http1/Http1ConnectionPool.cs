using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// Keep-alive connections of the direct path, per destination address. Idle connections wait on a stack
/// (the most recently used first, so a quiet period lets the others time out), at most
/// <see cref="MaxIdlePerDestination"/> of them, each for at most <see cref="IdleTimeout"/>; a timer closes the
/// expired ones. Keyed by address, so a config reload that keeps an endpoint keeps its connections.
/// </summary>
internal sealed class Http1ConnectionPool : IDisposable
{
    /// <summary>As SocketsHttpHandler's PooledConnectionIdleTimeout default.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(1);

    public const int MaxIdlePerDestination = 512;

    private readonly ConcurrentDictionary<string, Http1Destination> _destinations = new(StringComparer.OrdinalIgnoreCase);
    private readonly Timer _scavenger;

    public Http1ConnectionPool()
    {
        _scavenger = new Timer(static state => ((Http1ConnectionPool)state!).CloseExpired(), this, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15));
    }

    /// <summary>The pool of one destination address (http://host:port[/base]).</summary>
    public Http1Destination For(string address) =>
        _destinations.TryGetValue(address, out var destination) ? destination : _destinations.GetOrAdd(address, static a => new Http1Destination(a));

    private long _requests;

    /// <summary>Requests the direct path has forwarded since the start (for tests and the bench).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    public void CountRequest() => Interlocked.Increment(ref _requests);

    /// <summary>Connections opened since the start, all destinations together.</summary>
    public long Opened => _destinations.Values.Sum(d => d.Opened);

    /// <summary>The timestamp before which an idle connection has been idle too long.</summary>
    public static long IdleCutoff() => Stopwatch.GetTimestamp() - (long)(IdleTimeout.TotalSeconds * Stopwatch.Frequency);

    private void CloseExpired()
    {
        var cutoff = IdleCutoff();
        foreach (var destination in _destinations.Values) destination.CloseIdleBefore(cutoff);
    }

    public void Dispose()
    {
        _scavenger.Dispose();
        foreach (var destination in _destinations.Values) destination.CloseIdleBefore(long.MaxValue);
    }
}

/// <summary>One destination address: where to connect, what goes in its requests' Host header, and its idle connections.</summary>
internal sealed class Http1Destination
{
    private readonly Stack<Http1Connection> _idle = new();
    private long _opened;

    public Http1Destination(string address)
    {
        var uri = new Uri(address);
        EndPoint = IPAddress.TryParse(uri.DnsSafeHost, out var ip) ? new IPEndPoint(ip, uri.Port) : new DnsEndPoint(uri.DnsSafeHost, uri.Port);
        // As HttpClient writes it from the request URI: the port only when it is not the scheme's default.
        Authority = Encoding.ASCII.GetBytes(uri.Authority);
        // The endpoint's base path, without its trailing slash: the request's path follows it.
        BasePath = Encoding.ASCII.GetBytes(uri.AbsolutePath.TrimEnd('/'));
    }

    public EndPoint EndPoint { get; }

    /// <summary>host[:port] as the Host header carries it.</summary>
    public byte[] Authority { get; }

    /// <summary>The endpoint URL's path without a trailing slash; empty for none.</summary>
    public byte[] BasePath { get; }

    public long Opened => Interlocked.Read(ref _opened);

    /// <summary>The most recently used idle connection that has not timed out, or null.</summary>
    public Http1Connection? RentIdle()
    {
        var cutoff = Http1ConnectionPool.IdleCutoff();
        while (true)
        {
            Http1Connection? connection;
            lock (_idle)
            {
                if (!_idle.TryPop(out connection)) return null;
            }
            if (connection.IdleSince >= cutoff)
            {
                connection.Reused = true;
                return connection;
            }
            connection.Dispose();
        }
    }

    /// <summary>Back to the pool after a response read to its end on a connection that stays open.</summary>
    public void Return(Http1Connection connection)
    {
        connection.IdleSince = Stopwatch.GetTimestamp();
        lock (_idle)
        {
            if (_idle.Count < Http1ConnectionPool.MaxIdlePerDestination)
            {
                _idle.Push(connection);
                return;
            }
        }
        connection.Dispose();
    }

    /// <summary>A new connection; connect failures come as HttpClient reports them (HttpRequestException, ConnectionError), so retries and the error page treat both paths alike.</summary>
    public async ValueTask<Http1Connection> ConnectAsync(TimeSpan timeout, CancellationToken requestAborted)
    {
        var activity = new CancellationTokenSource(timeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using (requestAborted.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), activity))
            {
                await socket.ConnectAsync(EndPoint, activity.Token);
            }
            if (!activity.TryReset())
            {
                throw new OperationCanceledException(activity.Token);
            }
            Interlocked.Increment(ref _opened);
            return new Http1Connection(socket, this, activity);
        }
        catch (Exception e)
        {
            socket.Dispose();
            activity.Dispose();
            if (requestAborted.IsCancellationRequested) throw new OperationCanceledException(requestAborted);
            if (e is OperationCanceledException)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError, $"Connecting to {EndPoint} timed out after {timeout.TotalSeconds:0.###}s.", new TimeoutException());
            }
            throw new HttpRequestException(HttpRequestError.ConnectionError, $"{(e as SocketException)?.SocketErrorCode.ToString() ?? e.Message} ({EndPoint})", e);
        }
    }

    public void CloseIdleBefore(long cutoff)
    {
        List<Http1Connection>? expired = null;
        lock (_idle)
        {
            if (_idle.Count == 0) return;
            var kept = _idle.Where(c => c.IdleSince >= cutoff).Reverse().ToList();
            if (kept.Count == _idle.Count) return;
            expired = _idle.Where(c => c.IdleSince < cutoff).ToList();
            _idle.Clear();
            foreach (var connection in kept) _idle.Push(connection);
        }
        foreach (var connection in expired) connection.Dispose();
    }
}
