using System.Net.Http;
using Meshgate.Proxy.Observability.AccessLog;
using Meshgate.Proxy.Observability.Metrics;
using Meshgate.Proxy.Observability.Tracing;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Resilience.Retries;
using Meshgate.Proxy.Transforms;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// The last step of YARP's proxy pipeline: for a request on a route whose <see cref="ForwarderChoice"/> is direct,
/// forwards it over a pooled keep-alive HTTP/1.1 connection written and read here (no HttpRequestMessage, no
/// HttpClient, no YARP forwarder) and does not call the next step; any other request goes on to YARP's forwarder.
/// It does what YARP's ForwarderMiddleware does around a forward: picks the destination among the available ones,
/// sets ProxiedDestination, counts the cluster's and destination's concurrent requests, and reports a failure as
/// <see cref="IForwarderErrorFeature"/> with YARP's error values and status codes, which the error page, retries,
/// outlier detection and the cache read.
/// </summary>
internal sealed partial class Http1Forwarder(RequestDelegate next, Http1ConnectionPool pool, SnapshotAccessor snapshots, GatewayMetrics metrics, ILogger<Http1Forwarder> logger)
{
    private static readonly TimeSpan DefaultActivityTimeout = TimeSpan.FromSeconds(100);

    public Task InvokeAsync(HttpContext context)
    {
        var choice = context.GetEndpoint()?.Metadata.GetMetadata<ForwarderChoice>();
        if (choice is not { Direct: true } || !ForwarderChoice.TakesRequest(context.Request)) return next(context);
        var proxy = context.GetReverseProxyFeature();
        var destinations = proxy.AvailableDestinations;
        // No destination: YARP's forwarder answers it (503, NoAvailableDestinations), as on the other path.
        if (destinations.Count == 0 || !string.Equals(proxy.Cluster.Config.ClusterId, choice.ClusterId, StringComparison.OrdinalIgnoreCase)) return next(context);
        // As YARP's forwarder step: load balancing leaves one; should it leave several, one at random.
        var destination = destinations.Count == 1 ? destinations[0] : destinations[Random.Shared.Next(destinations.Count)];
        // https:// only with the cluster's TLS settings (every https:// cluster's choice has them).
        if (!destination.Model.Config.Address.StartsWith("http://", StringComparison.OrdinalIgnoreCase) && choice.Tls is null) return next(context);
        proxy.ProxiedDestination = destination;
        return ForwardAsync(context, proxy.Cluster.Config, destination, choice);
    }

    private async Task ForwardAsync(HttpContext context, ClusterConfig cluster, DestinationState destination, ForwarderChoice choice)
    {
        // The attempt's time for the access log and meshgate.upstream.duration, recorded at the very end (see UpstreamAttempts).
        var attemptStarted = UpstreamAttempts.Start(context, metrics);
        pool.CountRequest();
        // As YARP's forwarder step: the cluster's and the destination's requests in flight, around the exchange.
        var clusterState = context.GetRouteModel().Cluster ?? throw new InvalidOperationException("the route has no cluster");
        var activityTimeout = cluster.HttpRequest?.ActivityTimeout ?? DefaultActivityTimeout;
        var connectTimeout = choice.ConnectTimeout;
        var upstream = choice.Tls is null
            ? pool.For(destination.Model.Config.Address)
            : pool.For(destination.Model.Config.Address, choice.Tls, TlsName(context.Request, destination.Model.Config.Host, choice));
        var requestAborted = context.RequestAborted;
        var trusted = ForwardedHeadersRule.FromTrustedProxy(context, snapshots);
        var stage = Stage.Connect;
        var body = RequestBody.None;
        Http1Connection? connection = null;
        CancellationTokenRegistration aborted = default;
        var reusable = false;
        // Tracing: the attempt's client span (a recorded request) and the trace context sent with it (any request).
        var trace = choice.Traces ? context.Features.Get<TraceContextFeature>() : null;
        using var span = trace is { ServerSpan: not null } ? UpstreamSpans.Start(context.Request.Method) : null;
        if (UpstreamSpans.Describes(span)) UpstreamSpans.Describe(span!, context.Request.Method, Http1RequestWriter.TargetUrl(context.Request, destination.Model.Config.Address, choice));
        YarpCounters.Increment(clusterState, destination);
        // The epoll loop that serves the client, where the upstream connection is to be too. Off the engine (a sidecar's
        // pipeline) there is none, and the feature lookup per request is skipped.
        var loop = pool.Epoll ? Sockets.EpollLoop.IndexOf(context.Features) : -1;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                stage = Stage.Connect;
                connection = attempt == 0 ? RentIdle(upstream, context, loop) : null;
                connection ??= await upstream.ConnectAsync(connectTimeout, requestAborted, loop);
                aborted = requestAborted.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), connection.Activity);
                connection.Activity.CancelAfter(activityTimeout);
                var token = connection.Activity.Token;
                try
                {
                    stage = Stage.Send;
                    body = Http1RequestWriter.WriteHead(connection.Writer, context, upstream, destination.Model.Config.Host, choice, trusted, trace, span);
                    if (body == RequestBody.None) await Http1Body.FlushAsync(connection.Writer, ForwarderError.Request, token);
                    else await Http1Body.SendAsync(context, connection, body, activityTimeout, token);
                    stage = Stage.ResponseHeaders;
                    // Sending a body was activity: the wait for the answer starts anew (a bodiless request's clock started above).
                    if (body != RequestBody.None) connection.Activity.CancelAfter(activityTimeout);
                    var head = await Http1ResponseReader.ReadHeadAsync(connection, context, token);
                    if (UpstreamSpans.Describes(span)) UpstreamSpans.Answered(span!, head.Status, "1.1");
                    if (!choice.ResponseHeaders.IsEmpty) choice.ResponseHeaders.ApplyTo(context.Response.Headers);
                    // The retry step's response transform on the YARP path: a status to retry drops this body.
                    if (choice.ChecksRetry && context.Features.Get<RetryAttempt>() is { } retry && retry.OnResponseHeaders(head.Status)) return;
                    stage = Stage.ResponseBody;
                    // The body copy restarts the activity timeout before it waits for bytes (as YARP restarts it once the headers are in).
                    var complete = await Http1Body.CopyResponseAsync(context.Response.Body, connection, head, activityTimeout, token);
                    reusable = complete && head.KeepAlive;
                    return;
                }
                catch (Exception e) when (attempt == 0 && connection.Reused && body == RequestBody.None && !requestAborted.IsCancellationRequested && IsStale(e, stage))
                {
                    // The upstream closed the idle connection (its keep-alive timeout) as the request went out: as
                    // HttpClient does, once more on a new connection, since nothing of the request was processed.
                    LogStaleConnection(logger, upstream.EndPoint);
                    aborted.Dispose();
                    connection.Dispose();
                    connection = null;
                }
            }
        }
        catch (Exception e)
        {
            if (UpstreamSpans.Describes(span)) UpstreamSpans.Failed(span!, e);
            Fail(context, Classify(e, stage, body, requestAborted), e);
        }
        finally
        {
            aborted.Dispose();
            if (connection is not null)
            {
                // The registration is gone, so a later abort of this request cannot reach the next one's activity source.
                if (reusable && connection.ResetActivity()) upstream.Return(connection);
                else connection.Dispose();
            }
            YarpCounters.Decrement(clusterState, destination);
            if (attemptStarted != 0) UpstreamAttempts.Record(context, context.Features.Get<RequestRecord>(), metrics, attemptStarted);
        }
    }

    /// <summary>
    /// The name a TLS connection is for (SNI and the certificate's name check): as SocketsHttpHandler takes it, the host of
    /// the Host header the request will carry (a Host the route sets, the client's with preserveHost, the endpoint's
    /// tls.sni), or null for the address's own host.
    /// </summary>
    internal static string? TlsName(HttpRequest request, string? destinationHost, ForwarderChoice choice)
    {
        if (Http1RequestWriter.HostHeader(request, destinationHost, choice) is not { } host) return null;
        // Without its port (an IPv6 literal keeps its colons).
        var colon = host.LastIndexOf(':');
        return colon >= 0 && colon > host.IndexOf(']') ? host[..colon] : host;
    }

    /// <summary>An idle connection; one that looks closed is dropped first when the request has a body, which could not be sent twice.</summary>
    private static Http1Connection? RentIdle(Http1Destination upstream, HttpContext context, int loop)
    {
        while (upstream.RentIdle(loop) is { } connection)
        {
            if (context.Request.ContentLength is null or 0 && !context.Request.Headers.ContainsKey(Microsoft.Net.Http.Headers.HeaderNames.TransferEncoding)) return connection;
            if (!connection.LooksClosed()) return connection;
            connection.Dispose();
        }
        return null;
    }

    internal static bool IsStale(Exception e, Stage stage) =>
        e is Http1ConnectionClosedException || (stage == Stage.Send && e is Http1ForwardException { InnerException: IOException });

    internal enum Stage
    {
        Connect,
        Send,
        ResponseHeaders,
        ResponseBody,
    }

    /// <summary>YARP's error value and status for a failure at a stage (see its HttpForwarder).</summary>
    internal static (ForwarderError Error, int Status) Classify(Exception e, Stage stage, RequestBody body, CancellationToken requestAborted)
    {
        var bodyStarted = body != RequestBody.None && stage >= Stage.Send;
        if (requestAborted.IsCancellationRequested)
        {
            // The client went away, or the route's deadline or per-try timeout fired (their steps turn those into 504).
            return stage == Stage.ResponseBody
                ? (ForwarderError.ResponseBodyCanceled, StatusCodes.Status502BadGateway)
                : (bodyStarted && stage == Stage.Send ? ForwarderError.RequestBodyCanceled : ForwarderError.RequestCanceled, StatusCodes.Status400BadRequest);
        }
        if (e is Http1ForwardException forward)
        {
            return forward.Error switch
            {
                ForwarderError.RequestBodyClient => (forward.Error, forward.InnerException is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status400BadRequest),
                _ => (forward.Error, StatusCodes.Status502BadGateway),
            };
        }
        if (e is OperationCanceledException)
        {
            // The activity timeout: no upstream activity for the cluster's request timeout.
            return stage switch
            {
                Stage.ResponseBody => (ForwarderError.ResponseBodyCanceled, StatusCodes.Status502BadGateway),
                Stage.Send when bodyStarted => (ForwarderError.RequestBodyDestination, StatusCodes.Status504GatewayTimeout),
                _ => (ForwarderError.RequestTimedOut, StatusCodes.Status504GatewayTimeout),
            };
        }
        if (stage == Stage.ResponseBody) return (ForwarderError.ResponseBodyDestination, StatusCodes.Status502BadGateway);
        // Connect, send and response-head failures: HttpClient's SendAsync would have thrown, which YARP reports as Request.
        return (ForwarderError.Request, StatusCodes.Status502BadGateway);
    }

    private void Fail(HttpContext context, (ForwarderError Error, int Status) failure, Exception exception)
    {
        context.Features.Set<IForwarderErrorFeature>(new Http1ForwarderError(failure.Error, exception));
        if (context.RequestAborted.IsCancellationRequested) LogCanceled(logger, failure.Error, exception.Message);
        else LogFailed(logger, failure.Error, exception.Message, exception);
        if (!context.Response.HasStarted)
        {
            // Status and headers of a half-read answer may be on the response: the client gets a clean error instead.
            context.Response.Clear();
            context.Response.StatusCode = failure.Status;
            return;
        }
        // The answer has begun: end it so the client cannot take a truncated body for a whole one (YARP's ResetOrAbort).
        if (context.Features.Get<IHttpResetFeature>() is { } reset) reset.Reset(failure.Error == ForwarderError.ResponseBodyCanceled ? 2 : 8);
        else context.Abort();
    }

    private sealed class Http1ForwarderError(ForwarderError error, Exception? exception) : IForwarderErrorFeature
    {
        public ForwarderError Error { get; } = error;
        public Exception? Exception { get; } = exception;
    }

    [LoggerMessage(EventId = Common.EventIds.Http1Forwarder + 1, Level = LogLevel.Warning, Message = "{Error}: {Message}")]
    internal static partial void LogFailed(ILogger logger, ForwarderError error, string message, Exception exception);

    [LoggerMessage(EventId = Common.EventIds.Http1Forwarder + 2, Level = LogLevel.Debug, Message = "{Error} (the request was cancelled): {Message}")]
    internal static partial void LogCanceled(ILogger logger, ForwarderError error, string message);

    [LoggerMessage(EventId = Common.EventIds.Http1Forwarder + 3, Level = LogLevel.Debug, Message = "An idle connection to {EndPoint} was closed by the upstream; the request goes again on a new connection")]
    internal static partial void LogStaleConnection(ILogger logger, System.Net.EndPoint endPoint);
}
