using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Meshgate.Proxy.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// Keep-alive connections of the direct path, per destination address. Idle connections wait on a stack
/// (the most recently used first, so a quiet period lets the others time out), at most
/// <see cref="MaxIdlePerDestination"/> of them, each for at most <see cref="IdleTimeout"/>; a timer closes the
/// expired ones. On the epoll engine each loop has its own stack, as each nginx worker and each Envoy worker thread has
/// its own pool: a request takes, or makes, a connection that its client's loop serves, so the answer comes back on the
/// thread that has the client, and a connection goes back to the stack of the loop that serves it.
/// Keyed by address (its scheme and host compared case-insensitively) and, for TLS, by what makes a connection's
/// identity: the cluster's TLS policy (trust, client certificate; a reload that changes them gets new connections, as
/// YARP builds a new client) and the name the handshake is for (SNI and the certificate's name, as SocketsHttpHandler
/// keys its pools by it). So a config reload that keeps an endpoint keeps its connections. A mesh identity's renewed
/// certificate goes out on new connections only; pooled ones keep the one they were made with until they close (as with
/// SocketsHttpHandler).
/// </summary>
/// <remarks>
/// After every config swap (a reload, a mesh snapshot: both publish the clusters' destinations through the config
/// provider), and on each timer tick, the destinations no cluster has any more, and those made with a TLS policy no
/// cluster has any more, are retired (as SocketsHttpHandler's pool manager drops its pools): their idle connections are
/// closed and they leave the table. A request already holding one (it picked its destination before the swap) goes
/// on: it connects anew when nothing idle is left, finishes, and its connection is closed instead of pooled. A request
/// that looks a retired address up again gets a fresh destination, which the next tick retires.
/// </remarks>
internal sealed partial class Http1ConnectionPool : IDisposable
{
    /// <summary>As SocketsHttpHandler's PooledConnectionIdleTimeout default.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(1);

    public const int MaxIdlePerDestination = 512;

    private readonly ConcurrentDictionary<DestinationKey, Http1Destination> _destinations = new(new DestinationKeyComparer());
    private readonly SnapshotAccessor _snapshots;
    private readonly UpstreamTlsPolicies _tls;
    private readonly ILogger _logger;
    private readonly IDisposable _configChanges;
    private readonly Lock _retiring = new();
    private readonly Timer _scavenger;
    private long _opened;

    public Http1ConnectionPool(SnapshotAccessor snapshots, UpstreamTlsPolicies tls, ILogger<Http1ConnectionPool> logger)
    {
        _snapshots = snapshots;
        Epoll = snapshots.Current.EpollSockets;
        SendsThroughRing = Epoll && snapshots.Current.SendsThroughRing && Sockets.IoUring.Allowed;
        _tls = tls;
        _logger = logger;
        // The change token fires inside the publisher's lock: closing sockets waits for the thread pool.
        _configChanges = ChangeToken.OnChange(() => _snapshots.GetConfig().ChangeToken, () => ThreadPool.UnsafeQueueUserWorkItem(static pool => pool.RetireRemoved(), this, preferLocal: false));
        _scavenger = new Timer(static state => ((Http1ConnectionPool)state!).Scavenge(), this, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15));
    }

    /// <summary>The epoll engine is on (read at start, sockets: needs a restart): new connections are made and served by it.</summary>
    public bool Epoll { get; }

    /// <summary>New connections send through their loop's io_uring ring (sockets: uring, or auto where the kernel allows it).</summary>
    public bool SendsThroughRing { get; }

    /// <summary>The pool of one destination address (http://host:port[/base]).</summary>
    /// <remarks>
    /// A destination's address is the same string object in every request until a config swap replaces it, so the
    /// destination is first looked up by that object: no hashing and comparing of the URL per request. The table is
    /// emptied after every swap (and timer tick, see <see cref="RetireRemoved"/>), so it holds only strings of recent
    /// configs, and a retired destination found there is looked up again by value, as before.
    /// </remarks>
    public Http1Destination For(string address)
    {
        if (_byAddressObject.TryGetValue(address, out var known) && !known.Retired) return known;
        var destination = For(address, null, null);
        _byAddressObject[address] = destination;
        return destination;
    }

    private readonly ConcurrentDictionary<string, Http1Destination> _byAddressObject = new(ReferenceEqualityComparer.Instance);

    /// <summary>The pool of one destination address; for https://, with the cluster's TLS policy and the handshake's name (null: the address's host).</summary>
    public Http1Destination For(string address, UpstreamTlsPolicy? tls, string? tlsName)
    {
        var key = new DestinationKey(address, tls, tlsName);
        return _destinations.TryGetValue(key, out var destination) ? destination : _destinations.GetOrAdd(key, static (k, pool) => new Http1Destination(k.Address, k.Tls, k.TlsName, pool), this);
    }

    private readonly record struct DestinationKey(string Address, UpstreamTlsPolicy? Tls, string? TlsName);

    /// <summary>Addresses and handshake names are URLs and host names: scheme and host compare case-insensitively, a base path does not.</summary>
    private sealed class DestinationKeyComparer : IEqualityComparer<DestinationKey>
    {
        public bool Equals(DestinationKey x, DestinationKey y) =>
            ReferenceEquals(x.Tls, y.Tls) && string.Equals(x.TlsName, y.TlsName, StringComparison.OrdinalIgnoreCase) && AddressComparer.Instance.Equals(x.Address, y.Address);

        public int GetHashCode(DestinationKey key) =>
            HashCode.Combine(AddressComparer.Instance.GetHashCode(key.Address), key.Tls, key.TlsName is null ? 0 : StringComparer.OrdinalIgnoreCase.GetHashCode(key.TlsName));
    }

    private long _requests;

    /// <summary>Requests the direct path has forwarded since the start (for tests and the bench).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    public void CountRequest() => Interlocked.Increment(ref _requests);

    /// <summary>Connections opened since the start, all destinations together (retired ones too).</summary>
    public long Opened => Interlocked.Read(ref _opened);

    internal void CountOpened() => Interlocked.Increment(ref _opened);

    /// <summary>Destinations in the table (for tests).</summary>
    public int Destinations => _destinations.Count;

    /// <summary>The timestamp before which an idle connection has been idle too long.</summary>
    public static long IdleCutoff() => Stopwatch.GetTimestamp() - (long)(IdleTimeout.TotalSeconds * Stopwatch.Frequency);

    private void Scavenge()
    {
        RetireRemoved();
        var cutoff = IdleCutoff();
        foreach (var destination in _destinations.Values) destination.CloseIdleBefore(cutoff);
    }

    /// <summary>
    /// Drops the TLS policies no cluster of the current snapshot has, then retires the destinations whose address no
    /// cluster lists (config endpoints and mesh instances alike) or whose TLS policy was dropped.
    /// </summary>
    internal void RetireRemoved()
    {
        try
        {
            lock (_retiring)
            {
                _tls.Retain(_snapshots.Current);
                var policies = _tls.Current();
                var addresses = new HashSet<string>(AddressComparer.Instance);
                foreach (var cluster in _snapshots.GetConfig().Clusters)
                {
                    foreach (var destination in cluster.Destinations?.Values ?? []) addresses.Add(destination.Address);
                }
                foreach (var (key, destination) in _destinations)
                {
                    if (addresses.Contains(key.Address) && (key.Tls is null || policies.Contains(key.Tls))) continue;
                    if (!_destinations.TryRemove(new KeyValuePair<DestinationKey, Http1Destination>(key, destination))) continue;
                    var closed = destination.Retire();
                    LogRetired(_logger, key.Address, addresses.Contains(key.Address) ? "its cluster's TLS settings changed" : "no cluster has it any more", closed);
                }
                // Strings of replaced configs go; the current ones' destinations are found again by value on their next request.
                _byAddressObject.Clear();
            }
        }
        catch (Exception e)
        {
            // A timer's or the thread pool's callback: an escaping exception would end the process.
            LogRetireFailed(_logger, e);
        }
    }

    public void Dispose()
    {
        _configChanges.Dispose();
        _scavenger.Dispose();
        foreach (var destination in _destinations.Values) destination.Retire();
    }

    [LoggerMessage(EventId = Common.EventIds.UpstreamPools, Level = LogLevel.Debug, Message = "Dropped the direct path's connections to {Address}: {Reason}; {Closed} idle ones closed, those in use close when their request ends")]
    private static partial void LogRetired(ILogger logger, string address, string reason, int closed);

    [LoggerMessage(EventId = Common.EventIds.UpstreamPools + 1, Level = LogLevel.Error, Message = "Dropping the direct path's connections to removed endpoints failed")]
    private static partial void LogRetireFailed(ILogger logger, Exception exception);
}

/// <summary>Compares endpoint URLs as URLs: scheme and authority (host, port) case-insensitively, the rest (a base path) exactly.</summary>
internal sealed class AddressComparer : IEqualityComparer<string>
{
    public static readonly AddressComparer Instance = new();

    public bool Equals(string? x, string? y)
    {
        if (ReferenceEquals(x, y)) return true;
        if (x is null || y is null || x.Length != y.Length) return false;
        var end = AuthorityEnd(x);
        return end == AuthorityEnd(y)
            && x.AsSpan(0, end).Equals(y.AsSpan(0, end), StringComparison.OrdinalIgnoreCase)
            && x.AsSpan(end).SequenceEqual(y.AsSpan(end));
    }

    public int GetHashCode(string address)
    {
        var end = AuthorityEnd(address);
        return HashCode.Combine(string.GetHashCode(address.AsSpan(0, end), StringComparison.OrdinalIgnoreCase), string.GetHashCode(address.AsSpan(end)));
    }

    /// <summary>Where the path starts: the first '/' after "scheme://", else the end.</summary>
    private static int AuthorityEnd(string address)
    {
        var scheme = address.IndexOf("://", StringComparison.Ordinal);
        var start = scheme < 0 ? 0 : scheme + 3;
        var slash = address.IndexOf('/', start);
        return slash < 0 ? address.Length : slash;
    }
}

/// <summary>One destination address: where to connect, what goes in its requests' Host header, and its idle connections.</summary>
internal sealed class Http1Destination
{
    // One stack per epoll loop (by the loop's index), or one for all on .NET's sockets.
    private readonly IdleConnections[] _idle;
    private readonly Http1ConnectionPool? _pool;
    private bool _retired;

    /// <summary>The handshake's settings for an https:// address (made once, SslStream copies them); null for http://.</summary>
    private readonly SslClientAuthenticationOptions? _tls;

    /// <summary>No cluster has it any more (<see cref="Retire"/>): its connections close after their request.</summary>
    public bool Retired => Volatile.Read(ref _retired);

    /// <param name="pool">Counts the connections opened; null in unit tests.</param>
    public Http1Destination(string address, UpstreamTlsPolicy? tls = null, string? tlsName = null, Http1ConnectionPool? pool = null)
    {
        _pool = pool;
        _idle = new IdleConnections[pool?.Epoll == true ? Sockets.EpollLoop.Count : 1];
        for (var i = 0; i < _idle.Length; i++) _idle[i] = new IdleConnections();
        var uri = new Uri(address);
        if (uri.Scheme == Uri.UriSchemeHttps)
        {
            // As SocketsHttpHandler: the handshake is for the Host header's name, else the URI's host; HTTP/1.1 only.
            _tls = new SslClientAuthenticationOptions { TargetHost = tlsName ?? uri.IdnHost, ApplicationProtocols = [SslApplicationProtocol.Http11] };
            tls?.ApplyTo(_tls);
        }
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

    /// <summary>
    /// The most recently used idle connection that has not timed out, or null: one that the loop of the request's client
    /// serves (another loop's idle connections are left to it), or with that loop not known, any.
    /// </summary>
    /// <param name="loop">The index of the epoll loop that serves the request's client (-1: not known, or not on the engine).</param>
    public Http1Connection? RentIdle(int loop = -1)
    {
        var cutoff = Http1ConnectionPool.IdleCutoff();
        var index = _idle.Length == 1 ? 0 : loop;
        if (index >= 0) return _idle[index].Rent(cutoff);
        foreach (var idle in _idle)
        {
            if (idle.Rent(cutoff) is { } connection) return connection;
        }
        return null;
    }

    /// <summary>Back to the pool after a response read to its end on a connection that stays open; closed instead once the destination is retired.</summary>
    public void Return(Http1Connection connection)
    {
        connection.IdleSince = Stopwatch.GetTimestamp();
        if (!_idle[_idle.Length == 1 ? 0 : connection.Loop].TryPush(connection, this)) connection.Dispose();
    }

    /// <summary>
    /// A new connection, and for https:// its TLS handshake (the connect timeout covers both). Failures come as
    /// HttpClient reports them (HttpRequestException: ConnectionError, or SecureConnectionError for a handshake that
    /// failed or a certificate refused), so retries and the error page treat both paths alike.
    /// </summary>
    /// <param name="loop">The index of the epoll loop that serves the request's client (-1: not known, or not on the engine).</param>
    public async ValueTask<Http1Connection> ConnectAsync(TimeSpan timeout, CancellationToken requestAborted, int loop = -1)
    {
        var activity = new CancellationTokenSource(timeout);
        Socket? socket = null;
        Stream? stream = null;
        IDisposable? close = null;
        var index = -1;
        try
        {
            using (requestAborted.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), activity))
            {
                if (_pool?.Epoll == true)
                {
                    var epoll = await Sockets.EpollStream.ConnectAsync(EndPoint, activity.Token, Sockets.EpollLoop.For(loop), _pool.SendsThroughRing);
                    (socket, stream, close, index) = (epoll.Socket.Socket, epoll, epoll.Socket, epoll.Socket.Loop.Index);
                }
                else
                {
                    socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    close = socket;
                    await socket.ConnectAsync(EndPoint, activity.Token);
                    stream = new NetworkStream(socket, ownsSocket: true);
                }
                if (_tls is not null)
                {
                    var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                    stream = ssl;
                    await ssl.AuthenticateAsClientAsync(_tls, activity.Token);
                }
            }
            if (!activity.TryReset())
            {
                throw new OperationCanceledException(activity.Token);
            }
            _pool?.CountOpened();
            return new Http1Connection(socket, stream, close, this, activity) { Loop = index };
        }
        catch (Exception e)
        {
            stream?.Dispose();
            close?.Dispose();
            var timedOut = activity.IsCancellationRequested;
            activity.Dispose();
            if (requestAborted.IsCancellationRequested) throw new OperationCanceledException(requestAborted);
            if (e is OperationCanceledException || timedOut)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError, $"Connecting to {EndPoint} timed out after {timeout.TotalSeconds:0.###}s.", new TimeoutException());
            }
            if (stream is SslStream)
            {
                // The handshake failed (a refused certificate, an alert, an identity not there yet): HttpClient's words and error.
                throw new HttpRequestException(HttpRequestError.SecureConnectionError, "The SSL connection could not be established, see inner exception.", e);
            }
            throw new HttpRequestException(HttpRequestError.ConnectionError, $"{(e as SocketException)?.SocketErrorCode.ToString() ?? e.Message} ({EndPoint})", e);
        }
    }

    /// <summary>
    /// No cluster has this destination any more: closes its idle connections (returns how many) and every connection
    /// returned after this, so nothing stays open for it once its requests in flight end.
    /// </summary>
    public int Retire()
    {
        Volatile.Write(ref _retired, true);
        var closed = 0;
        foreach (var idle in _idle) closed += idle.CloseBefore(long.MaxValue);
        return closed;
    }

    public void CloseIdleBefore(long cutoff)
    {
        foreach (var idle in _idle) idle.CloseBefore(cutoff);
    }

    /// <summary>One stack of idle connections, the most recently used on top.</summary>
    private sealed class IdleConnections
    {
        private readonly Stack<Http1Connection> _stack = new();
        // A Lock rather than the stack's monitor: taken twice per request, and its uncontended path never leaves managed code.
        private readonly Lock _lock = new();

        public Http1Connection? Rent(long cutoff)
        {
            while (true)
            {
                Http1Connection? connection;
                lock (_lock)
                {
                    if (!_stack.TryPop(out connection)) return null;
                }
                if (connection.IdleSince >= cutoff)
                {
                    connection.Reused = true;
                    return connection;
                }
                connection.Dispose();
            }
        }

        /// <summary>
        /// Whether the connection was kept: not past the limit, nor once the destination is retired (read under the lock
        /// that Retire empties the stack under, after it set the flag, so no connection is left behind).
        /// </summary>
        public bool TryPush(Http1Connection connection, Http1Destination destination)
        {
            lock (_lock)
            {
                if (destination.Retired || _stack.Count >= Http1ConnectionPool.MaxIdlePerDestination) return false;
                _stack.Push(connection);
                return true;
            }
        }

        /// <summary>Closes the connections idle since before <paramref name="cutoff"/> (all of them for long.MaxValue); returns how many.</summary>
        public int CloseBefore(long cutoff)
        {
            List<Http1Connection> expired;
            lock (_lock)
            {
                if (_stack.Count == 0) return 0;
                var kept = _stack.Where(c => c.IdleSince >= cutoff).Reverse().ToList();
                if (kept.Count == _stack.Count) return 0;
                expired = _stack.Where(c => c.IdleSince < cutoff).ToList();
                _stack.Clear();
                foreach (var connection in kept) _stack.Push(connection);
            }
            foreach (var connection in expired) connection.Dispose();
            return expired.Count;
        }
    }
}
