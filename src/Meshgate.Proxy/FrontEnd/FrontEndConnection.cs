using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Security.Claims;
using System.Text;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.Errors;
using Meshgate.Proxy.Observability.AccessLog;
using Meshgate.Proxy.Observability.Metrics;
using Meshgate.Proxy.Observability.Tracing;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.RateLimiting;
using Meshgate.Proxy.RateLimiting.Local;
using Meshgate.Proxy.Resilience;
using Meshgate.Proxy.Resilience.Retries;
using Meshgate.Proxy.Resilience.Timeouts;
using Meshgate.Proxy.Upstream.Http1;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.FrontEnd;

/// <summary>
/// One client connection under the direct front end: reads each request head from the transport, serves it when it and
/// its route qualify (<see cref="RequestHead"/>, <see cref="FrontEndRoute"/>), and otherwise hands the connection, with
/// that request unread, to Kestrel's HTTP layer for good. A request it serves takes the route's steps in the pipeline's
/// order (tracing, authentication, rate limiting, the deadline and retries, the access log), each with the pipeline's own
/// code. Everything a connection needs again per request (the head parser, the upstream head, the client head, the body
/// writer, the trace context) is made once here.
/// </summary>
internal sealed class FrontEndConnection
{
    private static readonly TimeSpan DefaultActivityTimeout = TimeSpan.FromSeconds(100);

    private readonly DirectFrontEnd _frontEnd;
    private readonly ConnectionContext _connection;
    private readonly ConnectionDelegate _kestrel;
    private readonly FrontEndListener _listener;
    private readonly RequestHead _head = new();
    private readonly ArrayBufferWriter<byte> _upstreamHead = new(512);
    private readonly ClientResponse _response;
    private readonly CancellationToken _closeRequested;
    private readonly bool _https;
    private readonly IPAddress? _peer;
    private readonly byte[] _peerText;
    // The epoll loop that serves the client (-1: not on the engine): its requests' upstream connections are that loop's too.
    private readonly int _loop;
    private byte[]? _headCopy;
    private string? _ipKey;

    // The identity headers the route's authentication gives the upstream request, and whether it takes Authorization away.
    private readonly List<KeyValuePair<string, string>> _identityHeaders = [];
    private bool _dropsAuthorization;

    // The access log's record of the request being served: the policy of the config current at its start (null with
    // the access log off), and what the pipeline's steps would have put on its RequestRecord.
    private AccessLogPolicy? _accessLog;
    private DateTimeOffset _startedAt;
    private string? _query;
    private TraceId _loggedTraceId;
    private ClaimsPrincipal? _user;
    private string? _rateLimitOutcome;
    private long _upstreamTicks;
    private string? _endpoint;

    // Tracing's policy for the request being served (null with tracing off) and the connection's trace context.
    private TracingPolicy? _tracing;
    private TraceContextFeature? _trace;

    private long _requests;

    // The request being served: HEAD or GET, whether the client said Connection: close, and the path it asked for.
    private bool _isHead;
    private bool _close;
    private byte[]? _pathCopy;
    private int _pathLength;
    private string? _path;

    // Environment.TickCount64 at which the wait for a request head began; 0 while a request is being served.
    private long _waitingSince;
    private bool _headStarted;

    public FrontEndConnection(DirectFrontEnd frontEnd, ConnectionContext connection, ConnectionDelegate kestrel, FrontEndListener listener)
    {
        _frontEnd = frontEnd;
        _connection = connection;
        _kestrel = kestrel;
        _listener = listener;
        _response = new ClientResponse(new ClientOutput(connection));
        _closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        _https = connection.Features.Get<ITlsHandshakeFeature>() is not null;
        var peer = (connection.RemoteEndPoint as IPEndPoint)?.Address;
        _peer = peer is { IsIPv4MappedToIPv6: true } ? peer.MapToIPv4() : peer;
        _peerText = _peer is null ? [] : Encoding.ASCII.GetBytes(_peer.ToString());
        _loop = Sockets.EpollLoop.IndexOf(connection.Features);
    }

    public async Task ServeAsync()
    {
        var input = _connection.Transport.Input;
        // Kestrel's HTTP layer times idle and slow connections out with its heartbeat; until it has the connection, so does this.
        _connection.Features.Get<IConnectionHeartbeatFeature>()?.OnHeartbeat(static state => ((FrontEndConnection)state).OnHeartbeat(), this);
        // A server that is stopping asks its connections to close: an idle one at once, a busy one after its answer.
        using var closing = _closeRequested.UnsafeRegister(static state => ((PipeReader)state!).CancelPendingRead(), input);
        while (true)
        {
            // Per request: the keep-alive timeout until its first byte, then the request-headers timeout (OnHeartbeat).
            _headStarted = false;
            Volatile.Write(ref _waitingSince, Environment.TickCount64);
            ReadResult result;
            HeadVerdict verdict;
            while (true)
            {
                try
                {
                    result = await input.ReadAsync();
                }
                catch (Exception)
                {
                    // Aborted (a timeout above, or the client's reset): the connection is over.
                    return;
                }
                if (result.IsCanceled) return;
                if (result.Buffer.IsEmpty && result.IsCompleted) return;
                if (!_headStarted)
                {
                    _headStarted = true;
                    Volatile.Write(ref _waitingSince, Environment.TickCount64);
                }
                verdict = Parse(result.Buffer);
                if (verdict != HeadVerdict.Incomplete || result.IsCompleted) break;
                input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }
            var buffer = result.Buffer;
            var route = verdict == HeadVerdict.Eligible ? await RouteAsync(buffer) : null;
            Volatile.Write(ref _waitingSince, 0);
            if (route is null || Destination(route) is not { } destination)
            {
                // Kestrel reads this request from its first byte, and every one after it; it asks its connections to close itself.
                input.AdvanceTo(buffer.Start);
                _frontEnd.CountHandOff();
                closing.Dispose();
                await _kestrel(_connection);
                return;
            }
            // The request is the front end's for good from here (no hand-off follows): counted and timed from now.
            BeginRequest(buffer);
            var started = Start(out var activeSlot);
            if (_tracing is not null) BeginTrace(buffer, route);

            // The route's own steps, in the pipeline's order, from the head still in the buffer: authentication (slot 5b),
            // then rate limiting (slot 7), keyed by the consumer authentication found. Each completes at once but for a
            // token seen the first time or a shared limit that asks Redis, so their methods' async state is made only then.
            var refusal = route.Authentication is { Providers.Count: > 0 } ? await AuthenticateAsync(route, buffer) : null;
            var rateLimit = default(RateLimitVerdict);
            if (refusal is null && route.RateLimit is { } limit)
            {
                rateLimit = await _frontEnd.RateLimits.DecideAsync(limit, RateLimitKeys.For(new KeySource(this, HeadMemory(buffer), _user), limit.Policy.Key, limit));
                _rateLimitOutcome = rateLimit.Outcome;
                if (!Admit(rateLimit)) refusal = _frontEnd.RateLimits.Refusal(rateLimit);
            }
            if (refusal is var (refusedStatus, title, detail, code))
            {
                input.AdvanceTo(buffer.GetPosition(_head.Length));
                var answered = await ProblemAsync(refusedStatus, title, detail, code);
                Finish(route, started, activeSlot, attempts: 0);
                if (!answered) return;
                continue;
            }
            // The exchange: one attempt, or as many as the route's retry policy allows, each on an endpoint not tried yet
            // when there is one, all under the route's deadline (the pipeline's slot 8 and its proxy pipeline's retry step).
            // The head stays in the buffer until the exchange is over: a retry writes it again for its endpoint. Each attempt
            // is awaited in this frame, which lives as long as the connection: in a method of its own, every request would
            // allocate that method's async state (a pooling builder cannot pool what 64 connections hold at once).
            var upstream = WriteUpstreamHead(buffer, route, destination);
            var resilience = route.Resilience;
            var retryPolicy = resilience?.Retry;
            var clientGone = _connection.ConnectionClosed;
            var whole = resilience?.Timeout is { } timeout ? Deadline.Start(clientGone, timeout) : null;
            var requestToken = whole?.Token ?? clientGone;
            var budget = retryPolicy is { Attempts: > 1 } ? _frontEnd.RetryBudgets.For(route.ClusterId) : null;
            budget?.RequestStarted();
            var activityTimeout = route.Cluster.Model.Config.HttpRequest?.ActivityTimeout ?? DefaultActivityTimeout;
            var keepClient = true;
            var number = 0;
            var budgetRefused = false;
            List<DestinationState>? tried = null;
            try
            {
                AttemptResult attempt;
                while (true)
                {
                    // One attempt, as the direct path makes it: a pooled connection (a stale one replaced once), the head
                    // sent, the answer's head read into the client response and its body copied, under the cluster's
                    // activity timeout and the route's per-try timeout until the head. A status or failure the retry policy
                    // retries is dropped instead (nothing of it reaches the client) when more attempts are allowed and the
                    // cluster's retry budget lets one start.
                    number++;
                    var moreAttempts = retryPolicy is not null && number < retryPolicy.Attempts;
                    if (number > 1) budget?.RetryStarted();
                    var perTry = resilience?.PerTryTimeout is { } perTryTimeout ? Deadline.Start(requestToken, perTryTimeout) : null;
                    var token = perTry?.Token ?? requestToken;
                    var attemptStarted = Stopwatch.GetTimestamp();
                    YarpCounters.Increment(route.Cluster, destination);
                    _frontEnd.Pool.CountRequest();
                    var stage = Http1Forwarder.Stage.Connect;
                    Http1Connection? connection = null;
                    CancellationTokenRegistration aborted = default;
                    var reusable = false;
                    var status = 0;
                    // A recorded request's attempt is a client span of its own (a child of the server span, Activity.Current here).
                    var span = _trace is { ServerSpan: not null } ? UpstreamSpans.Start(Method) : null;
                    if (UpstreamSpans.Describes(span)) UpstreamSpans.Describe(span!, Method, TargetUrl(destination));
                    try
                    {
                        for (var tryNumber = 0; ; tryNumber++)
                        {
                            stage = Http1Forwarder.Stage.Connect;
                            connection = tryNumber == 0 ? upstream.RentIdle(_loop) : null;
                            connection ??= await upstream.ConnectAsync(route.Choice.ConnectTimeout, token, _loop);
                            aborted = token.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), connection.Activity);
                            connection.Activity.CancelAfter(activityTimeout);
                            var activity = connection.Activity.Token;
                            try
                            {
                                stage = Http1Forwarder.Stage.Send;
                                connection.Writer.Write(_upstreamHead.WrittenSpan);
                                // With tracing on, every request sends its trace context: the attempt's span as parent when recorded.
                                if (_tracing is not null) Http1RequestWriter.WriteTraceParent(connection.Writer, _trace!, span);
                                connection.Writer.Write("\r\n"u8);
                                await Http1Body.FlushAsync(connection.Writer, ForwarderError.Request, activity);
                                stage = Http1Forwarder.Stage.ResponseHeaders;
                                // Http1ResponseReader.ReadHeadAsync, with its reads awaited here.
                                var head = default(ResponseHead);
                                var received = false;
                                while (true)
                                {
                                    ReadResult read;
                                    try
                                    {
                                        read = await connection.Reader.ReadAsync(activity);
                                    }
                                    catch (IOException e) when (!received)
                                    {
                                        throw new Http1ConnectionClosedException(e);
                                    }
                                    if (Http1ResponseReader.TakeHead(connection, read, _response, _isHead, ref received, ref head)) break;
                                }
                                // The per-try timeout covers the wait for the head; the body streams under the activity timeout.
                                perTry?.DisableTimeout();
                                status = head.Status;
                                if (UpstreamSpans.Describes(span)) UpstreamSpans.Answered(span!, status, "1.1");
                                if (moreAttempts && retryPolicy!.RetriesStatus(status))
                                {
                                    if (AllowsRetry(route, budget))
                                    {
                                        attempt = new AttemptResult(true, null, stage, false);
                                        break;
                                    }
                                    budgetRefused = true;
                                }
                                stage = Http1Forwarder.Stage.ResponseBody;
                                // A client that asked, or a server that is stopping, closes the connection after this answer, and says so in it.
                                _response.EndHead(KeepsConnection);
                                var complete = await Http1Body.CopyResponseAsync(_response, connection, head, activityTimeout, activity);
                                await _response.EndAsync();
                                reusable = complete && head.KeepAlive;
                                attempt = new AttemptResult(false, null, stage, false);
                                break;
                            }
                            catch (Exception e) when (tryNumber == 0 && connection.Reused && !token.IsCancellationRequested && Http1Forwarder.IsStale(e, stage))
                            {
                                // As the direct path: the upstream closed the idle connection as the request went out; once more on a new one.
                                Http1Forwarder.LogStaleConnection(_frontEnd.Logger, upstream.EndPoint);
                                aborted.Dispose();
                                connection.Dispose();
                                connection = null;
                                _response.ResetHead();
                            }
                        }
                    }
                    catch (Exception e)
                    {
                        if (UpstreamSpans.Describes(span)) UpstreamSpans.Failed(span!, e);
                        var timedOut = perTry?.Expired == true;
                        var (error, failed) = Http1Forwarder.Classify(e, stage, RequestBody.None, token);
                        status = timedOut ? StatusCodes.Status504GatewayTimeout : failed;
                        // As the retry step: not once the client has gone, the request's deadline has passed or the answer has begun.
                        var retries = moreAttempts && !requestToken.IsCancellationRequested && !_response.Flushed && (retryPolicy!.On & RetryAttempt.Cause(error, e, timedOut)) != 0;
                        if (retries && !AllowsRetry(route, budget))
                        {
                            budgetRefused = true;
                            retries = false;
                        }
                        attempt = retries ? new AttemptResult(true, null, stage, timedOut) : new AttemptResult(false, e, stage, timedOut);
                    }
                    finally
                    {
                        aborted.Dispose();
                        if (connection is not null)
                        {
                            if (reusable && connection.ResetActivity()) upstream.Return(connection);
                            else connection.Dispose();
                        }
                        YarpCounters.Decrement(route.Cluster, destination);
                        perTry?.Return();
                        span?.Dispose();
                        if (number > 1) budget?.RetryEnded();
                        _upstreamTicks += Stopwatch.GetTimestamp() - attemptStarted;
                        _endpoint = destination.Model.Config.Address;
                        if (_frontEnd.Metrics.Enabled) _frontEnd.Metrics.RecordUpstreamAttempt(route.RouteId, route.ClusterId, status, Stopwatch.GetElapsedTime(attemptStarted).TotalSeconds);
                    }
                    if (!attempt.Retry) break;

                    // The next attempt: after the backoff (as the retry step's Polly loop waits before retry n, from 0),
                    // under the whole request's deadline, on an endpoint not tried yet when one is left.
                    (tried ??= []).Add(destination);
                    var delay = Backoff.Delay(retryPolicy!.BackoffBase, retryPolicy.BackoffMax, number - 1, _frontEnd.Random);
                    try
                    {
                        if (delay > TimeSpan.Zero) await Task.Delay(delay, _frontEnd.Time, requestToken);
                    }
                    catch (OperationCanceledException e)
                    {
                        attempt = new AttemptResult(false, e, Http1Forwarder.Stage.Connect, false);
                        break;
                    }
                    if (RetryDestination(route, tried) is not { } next)
                    {
                        attempt = new AttemptResult(false, new NoDestinationException(), Http1Forwarder.Stage.Connect, false);
                        break;
                    }
                    destination = next;
                    upstream = WriteUpstreamHead(buffer, route, destination);
                    _response.ResetHead();
                }
                input.AdvanceTo(buffer.GetPosition(_head.Length));
                if (attempt.Error is { } failure) keepClient = await FailAsync(failure, attempt.Stage, clientGone, attempt.TimedOut || whole?.Expired == true);
                else keepClient = KeepsConnection;
                if (number > 1)
                {
                    _frontEnd.ResilienceMetrics.Retried(route.RouteId, route.ClusterId, number - 1);
                    ResilienceMiddleware.LogAttempts(_frontEnd.ResilienceLogger, Method, Path, route.ClusterId, number, _response.Status);
                }
                if (budgetRefused) ResilienceMiddleware.LogBudgetRefused(_frontEnd.ResilienceLogger, route.ClusterId, budget!.RetriesInFlight, budget.ActiveRequests);
            }
            finally
            {
                budget?.RequestEnded();
                whole?.Return();
                if (rateLimit.Held is { } held) LocalRateLimiter.Release(held);
                Finish(route, started, activeSlot, attempts: number);
            }
            if (!keepClient) return;
        }
    }

    /// <summary>
    /// The pipeline's authentication step for the request: the route's providers in order, each on its header's values; the
    /// first that accepts gives the upstream request its identity headers. Returns the 401 to answer, or null when the
    /// request goes on (accepted, or anonymous where the route allows it).
    /// </summary>
    private async ValueTask<(int Status, string Title, string Detail, string Code)?> AuthenticateAsync(FrontEndRoute route, ReadOnlySequence<byte> buffer)
    {
        var authentication = route.Authentication!;
        AuthenticationOutcome[]? outcomes = null;
        for (var i = 0; i < authentication.Providers.Count; i++)
        {
            var provider = authentication.Providers[i];
            var runtime = _frontEnd.Authentication.Get(provider);
            var outcome = TryAcceptCached(runtime, buffer, out var cached) ? AuthenticationOutcome.Accepted(cached)
                : await runtime.AuthenticateAsync(HeaderValues(HeadBytes(buffer), runtime.CredentialHeader!), route.RouteId);
            if (outcome.Principal is { } principal)
            {
                _user = principal;
                AuthenticationAnswers.IdentityHeaders(provider, principal, _identityHeaders);
                _dropsAuthorization = AuthenticationAnswers.RemovesAuthorization(provider);
                return null;
            }
            // Kept only on the way to a 401: an accepted request pays for nothing here.
            (outcomes ??= new AuthenticationOutcome[authentication.Providers.Count])[i] = outcome;
        }
        if (AuthenticationAnswers.Unauthorized(authentication, _frontEnd.Authentication, outcomes ?? []) is not { } unauthorized) return null;
        _frontEnd.AuthenticationMetrics.Failed(route.RouteId, unauthorized.Reason);
        foreach (var challenge in unauthorized.Challenges) _response.AddGatewayHeader("WWW-Authenticate", challenge);
        return (StatusCodes.Status401Unauthorized, "Unauthorized", unauthorized.Detail, unauthorized.Reason);
    }

    /// <summary>What became of one attempt at the upstream.</summary>
    /// <param name="Retry">The attempt failed in a way the route's policy retries, and the retry budget let it: another follows.</param>
    /// <param name="Error">Why the attempt failed, when it failed and is not retried; null when it was answered.</param>
    /// <param name="TimedOut">The attempt's per-try timeout expired.</param>
    private readonly record struct AttemptResult(bool Retry, Exception? Error, Http1Forwarder.Stage Stage, bool TimedOut);

    /// <summary>No endpoint of the cluster is available for a retry (YARP's load balancing would answer 503).</summary>
    private sealed class NoDestinationException() : Exception("No endpoint of the cluster is available.");

    /// <summary>Whether the cluster's retry budget lets one more retry start (a route without retries has none to ask).</summary>
    private bool AllowsRetry(FrontEndRoute route, RetryBudgets.ClusterBudget? budget) =>
        budget is null || budget.AllowsRetry(_frontEnd.Snapshots.Current.ClusterPolicies.GetValueOrDefault(route.ClusterId)?.RetryBudget ?? RetryBudgetPolicy.Default);

    /// <summary>Parses the head at the start of the buffer, from a copy when it spans segments.</summary>
    private HeadVerdict Parse(ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment) return _head.Parse(buffer.FirstSpan);
        var length = (int)Math.Min(buffer.Length, RequestHead.MaxHeadBytes);
        _headCopy ??= new byte[RequestHead.MaxHeadBytes];
        buffer.Slice(0, length).CopyTo(_headCopy);
        return _head.Parse(_headCopy.AsSpan(0, length));
    }

    private ReadOnlySpan<byte> HeadBytes(ReadOnlySequence<byte> buffer) => HeadMemory(buffer).Span;

    private ReadOnlyMemory<byte> HeadMemory(ReadOnlySequence<byte> buffer) => buffer.IsSingleSegment ? buffer.First : _headCopy;

    /// <summary>The route for the parsed request: remembered, or asked of the router once; null for one Kestrel's pipeline serves.</summary>
    private ValueTask<FrontEndRoute?> RouteAsync(ReadOnlySequence<byte> buffer)
    {
        var snapshots = _frontEnd.Snapshots;
        // From a trusted proxy the forwarded headers are kept and extended: the pipeline's step.
        if (snapshots.TrustedProxies is { IsEmpty: false } trusted && _peer is not null && trusted.Contains(_peer)) return default;
        if (_frontEnd.Routes.Current is not { } table) return default;
        var head = HeadBytes(buffer);
        var method = head[_head.Method];
        var host = head[_head.Host];
        var path = head[_head.Path];
        var keyLength = method.Length + 1 + host.Length + path.Length;
        if (keyLength > 1024) return default;
        Span<char> key = stackalloc char[keyLength];
        Ascii.ToUtf16(method, key, out _);
        key[method.Length] = ' ';
        Ascii.ToUtf16(host, key[(method.Length + 1)..], out _);
        Ascii.ToUtf16(path, key[(method.Length + 1 + host.Length)..], out _);
        if (table.TryGet(key, out var route)) return new(route);
        return _frontEnd.Routes.RouteAsync(table, key.ToString(), Encoding.ASCII.GetString(method), Encoding.ASCII.GetString(host), Encoding.ASCII.GetString(path), _listener.Name);
    }

    /// <summary>The endpoint the cluster's load balancing picks now; null when none is available (the pipeline answers 503).</summary>
    private static DestinationState? Destination(FrontEndRoute route) => Pick(route, route.Cluster.DestinationsState.AvailableDestinations);

    /// <summary>The endpoint for a retry: among those not <paramref name="tried"/> yet when any is left, as the retry step steers YARP's load balancing.</summary>
    private static DestinationState? RetryDestination(FrontEndRoute route, List<DestinationState> tried)
    {
        var available = route.Cluster.DestinationsState.AvailableDestinations;
        var untried = available.Where(d => !tried.Contains(d)).ToList();
        return Pick(route, untried.Count > 0 ? untried : available);
    }

    private static DestinationState? Pick(FrontEndRoute route, IReadOnlyList<DestinationState> available)
    {
        if (available.Count == 0) return null;
        var destination = route.Balancer is { } balancer ? balancer.PickDestination(NoRequest, route.Cluster, available) : available[0];
        // https:// takes the direct path's TLS, which routes with a TLS cluster do not come here for.
        return destination is not null && destination.Model.Config.Address.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? destination : null;
    }

    /// <summary>What the load-balancing policies are given for a request: the front end's routes use none that reads it (consistent hashing does not come here).</summary>
    private static readonly HttpContext NoRequest = new DefaultHttpContext();

    /// <summary>
    /// The request as the upstream gets it, written as the direct path writes it (Http1RequestWriter) for a GET or HEAD,
    /// but for its traceparent and the blank line that ends it, which each attempt adds.
    /// </summary>
    private Http1Destination WriteUpstreamHead(ReadOnlySequence<byte> buffer, FrontEndRoute route, DestinationState destination)
    {
        var head = HeadBytes(buffer);
        var choice = route.Choice;
        var upstream = _frontEnd.Pool.For(destination.Model.Config.Address);
        var w = _upstreamHead;
        w.ResetWrittenCount();
        w.Write(head[_head.Method]);
        w.Write(" "u8);
        w.Write(upstream.BasePath);
        var path = head[_head.Path];
        if (choice.StripPrefix.HasValue && StartsWithSegment(path, choice.StripPrefix.Value!)) path = path[choice.StripPrefix.Value!.Length..];
        if (path.Length > 0) w.Write(path);
        else if (upstream.BasePath.Length == 0) w.Write("/"u8);
        w.Write(head[_head.Query]);
        w.Write(" HTTP/1.1\r\nHost: "u8);
        var host = head[_head.Host];
        if (choice.PreserveHost) w.Write(host);
        else if (destination.Model.Config.Host is { } destinationHost) Http1RequestWriter.Latin1(w, destinationHost);
        else w.Write(upstream.Authority);
        w.Write("\r\n"u8);
        for (var i = 0; i < _head.HeaderCount; i++)
        {
            var name = head[_head.Name(i)];
            if (Drops(route, name)) continue;
            w.Write(name);
            w.Write(": "u8);
            w.Write(head[_head.Value(i)]);
            w.Write("\r\n"u8);
        }
        if (_peerText.Length > 0)
        {
            w.Write("X-Forwarded-For: "u8);
            w.Write(_peerText);
            w.Write("\r\n"u8);
        }
        w.Write(_https ? "X-Forwarded-Proto: https\r\nX-Forwarded-Host: "u8 : "X-Forwarded-Proto: http\r\nX-Forwarded-Host: "u8);
        w.Write(host);
        w.Write("\r\n"u8);
        foreach (var (name, value) in _identityHeaders)
        {
            Http1RequestWriter.Latin1(w, name);
            w.Write(": "u8);
            Http1RequestWriter.Latin1(w, value);
            w.Write("\r\n"u8);
        }
        // The blank line goes out with each attempt, after the attempt's traceparent.
        return upstream;
    }

    /// <summary>
    /// The pipeline's tracing step for the request (TracingMiddleware), its context already decided: the server span of a
    /// sampled request, named after its route, and the trace-id response header. The span is Activity.Current of this
    /// connection's flow until <see cref="EndTrace"/>.
    /// </summary>
    private void BeginTrace(ReadOnlySequence<byte> buffer, FrontEndRoute route)
    {
        var trace = _trace!;
        if (_tracing!.ResponseHeader is { } name) _response.AddGatewayHeader(name, trace.TraceId.ToString());
        if (!trace.Sampled) return;
        var head = HeadBytes(buffer);
        // A new trace's root would adopt whatever Activity.Current is as its parent.
        if (!trace.Continued && Activity.Current is not null) Activity.Current = null;
        var host = new HostString(Encoding.ASCII.GetString(head[_head.Host]));
        var tracestate = HeaderValues(head, TraceParent.StateHeader);
        var userAgent = HeaderValues(head, "User-Agent");
        var span = ServerSpan.Start(trace, tracestate.Count > 0 ? tracestate.ToString() : null, Method, _https ? "https" : "http", Path, host.Host,
            host.Port ?? (_https ? 443 : 80), "1.1", userAgent.Count > 0 ? userAgent.ToString() : null);
        if (span is null)
        {
            trace.NotRecorded();
            return;
        }
        trace.Recording(span);
        ServerSpan.NameAfterRoute(span, Method, route.Model);
    }

    /// <summary>The recorded request's server span ends with the answer's status.</summary>
    private void EndTrace()
    {
        if (_trace?.ServerSpan is not { } span) return;
        ServerSpan.Answered(span, _response.Status);
        // Stopping it makes its parent (none: the caller's is remote) Activity.Current again, for the connection's next request.
        span.Dispose();
        _trace.Ended();
    }

    /// <summary>The attempt's URL for its client span: the endpoint and the target the upstream head names.</summary>
    private Uri TargetUrl(DestinationState destination)
    {
        var head = _upstreamHead.WrittenSpan;
        var start = head.IndexOf((byte)' ') + 1;
        var target = head[start..][..head[start..].IndexOf((byte)' ')];
        var address = destination.Model.Config.Address;
        var authority = address.IndexOf('/', address.IndexOf("//", StringComparison.Ordinal) + 2) is var slash and >= 0 ? address[..slash] : address;
        return new Uri(authority + Encoding.ASCII.GetString(target));
    }

    /// <summary>
    /// What the front end keeps of a request it serves once its head is consumed: HEAD or GET, Connection: close and the path
    /// (for its answer), the trace context it continues or starts, and the access log's start of it.
    /// </summary>
    private void BeginRequest(ReadOnlySequence<byte> buffer)
    {
        _isHead = _head.IsHead;
        _close = _head.Close;
        _identityHeaders.Clear();
        _dropsAuthorization = false;
        _user = null;
        _rateLimitOutcome = null;
        _upstreamTicks = 0;
        _endpoint = null;
        var snapshot = _frontEnd.Snapshots.Current;
        // As the pipeline's tracing step: installed only when the process started with tracing, the ratio the current config's.
        _tracing = _frontEnd.Traces ? snapshot.Tracing : null;
        if (_tracing is { } tracing)
        {
            _trace ??= new TraceContextFeature();
            _trace.Begin(HeaderValues(HeadBytes(buffer), TraceParent.Header), tracing.Sampling);
        }
        _accessLog = snapshot.AccessLog;
        if (_accessLog is { } accessLog)
        {
            _startedAt = _frontEnd.Time.GetUtcNow();
            var head = HeadBytes(buffer);
            _query = accessLog.Query && head[_head.Query].Length > 0 ? Encoding.ASCII.GetString(head[_head.Query]) : null;
            // With tracing, the request's trace id (sampled or not); without, the caller's traceparent still correlates the line.
            _loggedTraceId = _tracing is not null ? _trace!.TraceId
                : accessLog.Logs(AccessLogField.TraceId) ? AccessLogMiddleware.CallerTraceId(HeaderValues(head, TraceParent.Header)) : default;
        }
        // Kept for a problem's instance (the path the client asked for), made into a string only if there is one.
        var asked = HeadBytes(buffer)[_head.Path];
        _path = null;
        _pathLength = asked.Length;
        if (_pathCopy is null || _pathCopy.Length < asked.Length) _pathCopy = new byte[Math.Max(asked.Length, 256)];
        asked.CopyTo(_pathCopy);
    }

    /// <summary>
    /// Whether a client's header stays out of the upstream request: hop-by-hop, forwarded (replaced by the gateway's own), a
    /// trace header the gateway replaces, a forged mesh caller identity, or an identity header the route's authentication
    /// strips, sets or (Authorization) takes away.
    /// </summary>
    private bool Drops(FrontEndRoute route, ReadOnlySpan<byte> name)
    {
        // Connection may only say keep-alive or close here (RequestHead).
        if (Http1HeaderNames.IsHopByHop(-1, name) || Transforms.ForwardedHeadersRule.IsUntrusted(name)) return true;
        if (_tracing is not null && Http1RequestWriter.Replaced(name, _trace!)) return true;
        if (_frontEnd.StripsCallerIdentity && Ascii.EqualsIgnoreCase(name, Mesh.CallerIdentityMiddleware.HeaderName)) return true;
        if (route.Authentication is not { } authentication) return false;
        if (_dropsAuthorization && Ascii.EqualsIgnoreCase(name, "Authorization"u8)) return true;
        foreach (var strip in authentication.StripHeaders)
        {
            if (Ascii.EqualsIgnoreCase(name, strip)) return true;
        }
        foreach (var (set, _) in _identityHeaders)
        {
            if (Ascii.EqualsIgnoreCase(name, set)) return true;
        }
        return false;
    }

    /// <summary>A provider's cached answer for the request's credential header (a token seen before), from the head's bytes: no string made.</summary>
    private bool TryAcceptCached(AuthenticationProvider provider, ReadOnlySequence<byte> buffer, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ClaimsPrincipal? principal)
    {
        principal = null;
        var head = HeadBytes(buffer);
        var value = -1;
        for (var i = 0; i < _head.HeaderCount; i++)
        {
            if (!Ascii.EqualsIgnoreCase(head[_head.Name(i)], provider.CredentialHeader!)) continue;
            // Several lines are read joined, as the pipeline reads them: the provider's full path decides those.
            if (value >= 0) return false;
            value = i;
        }
        if (value < 0) return false;
        var bytes = head[_head.Value(value)];
        if (bytes.Length > 2048) return false;
        Span<char> chars = stackalloc char[bytes.Length];
        Ascii.ToUtf16(bytes, chars, out _);
        return provider.TryAcceptCached(chars, out principal);
    }

    /// <summary>Every value of a header in the head, as the pipeline's request headers hold them.</summary>
    private StringValues HeaderValues(ReadOnlySpan<byte> head, string name)
    {
        StringValues values = default;
        for (var i = 0; i < _head.HeaderCount; i++)
        {
            if (Ascii.EqualsIgnoreCase(head[_head.Name(i)], name)) values = StringValues.Concat(values, Encoding.ASCII.GetString(head[_head.Value(i)]));
        }
        return values;
    }

    /// <summary>As PathString.StartsWithSegments: the prefix, case-insensitive, then the end or a slash.</summary>
    private static bool StartsWithSegment(ReadOnlySpan<byte> path, string prefix)
    {
        if (path.Length < prefix.Length) return false;
        for (var i = 0; i < prefix.Length; i++)
        {
            if (char.ToLowerInvariant((char)path[i]) != char.ToLowerInvariant(prefix[i])) return false;
        }
        return path.Length == prefix.Length || path[prefix.Length] == '/';
    }

    /// <summary>A request begins: counted, in flight for metrics; returns its start time.</summary>
    private long Start(out int activeSlot)
    {
        var metrics = _frontEnd.Metrics;
        activeSlot = metrics.Enabled ? metrics.RequestStarted(Method, _https) : -1;
        _requests++;
        _frontEnd.CountServed();
        _response.Start(_isHead);
        return Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// The rate limit's verdict: whether the request goes on. The headers it gives the answer (the RateLimit headers, and
    /// Retry-After for a refusal) go on whatever the answer is, as the pipeline's step sets them when the response starts.
    /// </summary>
    private bool Admit(in RateLimitVerdict verdict)
    {
        var (policy, state, retryAfter) = _frontEnd.RateLimits.Headers(verdict);
        if (policy is not null) _response.AddGatewayHeader(RateLimitGate.PolicyHeader, policy);
        if (state is not null) _response.AddGatewayHeader(RateLimitGate.StateHeader, state);
        if (retryAfter is not null) _response.AddGatewayHeader("Retry-After", retryAfter);
        return verdict.Allowed;
    }

    /// <summary>
    /// A failed exchange, as the direct path and the error step answer it: a problem when nothing of the answer has gone
    /// out, else the connection ends so a truncated body cannot pass for a whole one. Returns whether the connection goes on.
    /// </summary>
    /// <param name="timedOut">The route's deadline or the attempt's per-try timeout expired: 504, as the timeout steps answer.</param>
    private async ValueTask<bool> FailAsync(Exception e, Http1Forwarder.Stage stage, CancellationToken clientGone, bool timedOut)
    {
        var (error, status) = e is NoDestinationException ? (ForwarderError.NoAvailableDestinations, StatusCodes.Status503ServiceUnavailable)
            : timedOut && !clientGone.IsCancellationRequested ? (ForwarderError.RequestTimedOut, StatusCodes.Status504GatewayTimeout)
            : Http1Forwarder.Classify(e, stage, RequestBody.None, clientGone);
        if (clientGone.IsCancellationRequested) Http1Forwarder.LogCanceled(_frontEnd.Logger, error, e.Message);
        else Http1Forwarder.LogFailed(_frontEnd.Logger, error, e.Message, e);
        if (_response.Flushed || clientGone.IsCancellationRequested)
        {
            _connection.Abort(new ConnectionAbortedException("The upstream failed in the middle of the response."));
            return false;
        }
        var (problemStatus, title, detail, code) = GatewayErrorsMiddleware.DescribeForwarderError(error, e, status);
        return await ProblemAsync(problemStatus, title, detail, code);
    }

    /// <summary>A problem+json answer of the gateway's own; returns whether the connection goes on.</summary>
    private async ValueTask<bool> ProblemAsync(int status, string title, string detail, string code)
    {
        try
        {
            var keep = KeepsConnection;
            await _response.ProblemAsync(status, code, _isHead ? [] : ProblemResponses.Body(status, title, detail, code, Path, RequestId), keep);
            return keep;
        }
        catch (IOException)
        {
            // The client went away meanwhile.
            return false;
        }
    }

    /// <summary>A request has ended, after <paramref name="attempts"/> upstream attempts: its server span, its metrics and its access-log line.</summary>
    private void Finish(FrontEndRoute route, long started, int activeSlot, int attempts)
    {
        EndTrace();
        if (_frontEnd.Metrics.Enabled) Record(route, started, activeSlot);
        if (_accessLog is { } accessLog) LogAccess(accessLog, route, started, attempts);
    }

    /// <summary>The access-log line the pipeline's outermost step would have queued for the request (AccessLogMiddleware).</summary>
    private void LogAccess(AccessLogPolicy policy, FrontEndRoute route, long started, int attempts)
    {
        // 499 (nginx's "client closed request") when the client went away before any answer, as the pipeline logs it.
        var status = _response.Status == 0 || (_connection.ConnectionClosed.IsCancellationRequested && !_response.Flushed) ? 499 : _response.Status;
        var queue = _frontEnd.AccessLogQueue;
        if (status < 400 && !_frontEnd.AccessLogSampler.Keep(policy.SampleSuccesses))
        {
            queue.SampledOut();
            return;
        }
        queue.Enqueue(new AccessLogEntry
        {
            Policy = policy,
            Time = _startedAt,
            DurationTicks = Stopwatch.GetTimestamp() - started,
            UpstreamTicks = _upstreamTicks,
            Route = route.RouteId,
            Cluster = route.ClusterId,
            Endpoint = _endpoint,
            Method = Method,
            Path = Path,
            Query = _query,
            Status = status,
            BytesOut = _response.BodyBytes,
            ClientIp = _peer,
            Consumer = policy.Logs(AccessLogField.Consumer) ? AccessLogMiddleware.ConsumerOf(_user) : null,
            TraceId = _loggedTraceId,
            RequestId = _loggedTraceId == default && policy.Logs(AccessLogField.TraceId) ? RequestId : null,
            RateLimit = _rateLimitOutcome,
            Attempts = attempts,
        });
    }

    /// <summary>What the pipeline would have recorded for the request: ASP.NET Core's duration and the body sizes (each upstream attempt records its own).</summary>
    private void Record(FrontEndRoute route, long started, int activeSlot)
    {
        var metrics = _frontEnd.Metrics;
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var status = _response.Status;
        var tags = new TagList
        {
            { "http.request.method", Method },
            { "url.scheme", _https ? "https" : "http" },
            { "network.protocol.version", "1.1" },
            { "http.response.status_code", BoxedStatusCodes.Boxed(status) },
            { MetricsTags.Route, route.RouteId },
            { MetricsTags.Cluster, route.ClusterId },
        };
        if (route.RoutePattern is { } pattern) tags.Add("http.route", pattern);
        _frontEnd.RequestDuration?.Record(seconds, tags);
        metrics.RecordBodySizes(Method, route.RouteId, route.ClusterId, requestBytes: null, _response.BodyBytes); // GET and HEAD without a body
        metrics.RequestEnded(activeSlot);
    }

    /// <summary>Whether the connection goes on after this answer: not when the client said close or the server is stopping.</summary>
    private bool KeepsConnection => !_close && !_closeRequested.IsCancellationRequested && !_frontEnd.Stopping.IsCancellationRequested;

    /// <summary>The request's method: the front end serves GET and HEAD only.</summary>
    private string Method => _isHead ? "HEAD" : "GET";

    private string Path => _path ??= Encoding.ASCII.GetString(_pathCopy.AsSpan(0, _pathLength));

    /// <summary>As Kestrel's TraceIdentifier: the connection id and the request's number on it.</summary>
    private string RequestId => $"{_connection.ConnectionId}:{_requests:X8}";

    /// <summary>The client's address as a rate-limit key part, made once per connection.</summary>
    private string IpKey => _ipKey ??= RateLimitKeys.IpKey(_peer);

    /// <summary>A rate-limit key's parts, from the request's head (the client is not a trusted proxy, so its address is the peer's).</summary>
    private readonly struct KeySource(FrontEndConnection connection, ReadOnlyMemory<byte> head, ClaimsPrincipal? user) : IRateLimitKeySource
    {
        public string IpKey => connection.IpKey;

        public string? Consumer => user?.FindFirst(MeshgateClaims.Consumer)?.Value;

        public string? Claim(string name) => user?.FindFirst(name)?.Value;

        // The header's lines comma-joined, as StringValues.ToString gives them to the pipeline's step.
        public string Header(string name) => connection.HeaderValues(head.Span, name).ToString();
    }

    /// <summary>Kestrel's heartbeat (once a second): a connection idle past the keep-alive timeout, or slow to send a head, is closed.</summary>
    private void OnHeartbeat()
    {
        var since = Volatile.Read(ref _waitingSince);
        if (since == 0) return;
        var limit = _headStarted ? _listener.RequestHeadersTimeout : _listener.KeepAliveTimeout;
        if (Environment.TickCount64 - since > limit.TotalMilliseconds)
        {
            _connection.Abort(new ConnectionAbortedException(_headStarted ? "The request headers did not arrive in time." : "The connection was idle past the keep-alive timeout."));
        }
    }
}
