using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// Keep-alive connections of the direct path, per destination address. Idle connections wait on a stack
/// (the most recently used first, so a quiet period lets the others time out), at most
/// <see cref="MaxIdlePerDestination"/> of them, each for at most <see cref="IdleTimeout"/>; a timer closes the
/// expired ones. Keyed by address and, for TLS, by what makes a connection's identity: the cluster's TLS policy (trust,
/// client certificate; a reload that changes them gets new connections, as YARP builds a new client) and the name the
/// handshake is for (SNI and the certificate's name, as SocketsHttpHandler keys its pools by it). So a config reload
/// that keeps an endpoint keeps its connections. A mesh identity's renewed certificate goes out on new connections
/// only; pooled ones keep the one they were made with until they close (as with SocketsHttpHandler).
/// </summary>
internal sealed class Http1ConnectionPool : IDisposable
{
    /// <summary>As SocketsHttpHandler's PooledConnectionIdleTimeout default.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(1);

    public const int MaxIdlePerDestination = 512;

    private readonly ConcurrentDictionary<DestinationKey, Http1Destination> _destinations = new();
    private readonly Timer _scavenger;

    public Http1ConnectionPool()
    {
        _scavenger = new Timer(static state => ((Http1ConnectionPool)state!).CloseExpired(), this, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15));
    }

    /// <summary>The pool of one destination address (http://host:port[/base]).</summary>
    public Http1Destination For(string address) => For(address, null, null);

    /// <summary>The pool of one destination address; for https://, with the cluster's TLS policy and the handshake's name (null: the address's host).</summary>
    public Http1Destination For(string address, UpstreamTlsPolicy? tls, string? tlsName)
    {
        var key = new DestinationKey(address, tls, tlsName);
        return _destinations.TryGetValue(key, out var destination) ? destination : _destinations.GetOrAdd(key, static k => new Http1Destination(k.Address, k.Tls, k.TlsName));
    }

    private readonly record struct DestinationKey(string Address, UpstreamTlsPolicy? Tls, string? TlsName);

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

    /// <summary>The handshake's settings for an https:// address (made once, SslStream copies them); null for http://.</summary>
    private readonly SslClientAuthenticationOptions? _tls;

    public Http1Destination(string address, UpstreamTlsPolicy? tls = null, string? tlsName = null)
    {
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

    /// <summary>
    /// A new connection, and for https:// its TLS handshake (the connect timeout covers both). Failures come as
    /// HttpClient reports them (HttpRequestException: ConnectionError, or SecureConnectionError for a handshake that
    /// failed or a certificate refused), so retries and the error page treat both paths alike.
    /// </summary>
    public async ValueTask<Http1Connection> ConnectAsync(TimeSpan timeout, CancellationToken requestAborted)
    {
        var activity = new CancellationTokenSource(timeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            using (requestAborted.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), activity))
            {
                await socket.ConnectAsync(EndPoint, activity.Token);
                stream = new NetworkStream(socket, ownsSocket: true);
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
            Interlocked.Increment(ref _opened);
            return new Http1Connection(socket, stream, this, activity);
        }
        catch (Exception e)
        {
            stream?.Dispose();
            socket.Dispose();
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
