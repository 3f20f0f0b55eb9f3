using System.Diagnostics;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.ForwardedHeaders;
using Meshgate.Proxy.Observability.Metrics;
using Meshgate.Proxy.Observability.Tracing;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// The outermost step: with the access log on, puts a <see cref="RequestRecord"/> on the request for the other steps to fill;
/// counts body bytes, and when the request completes records the request's metrics and hands one
/// <see cref="AccessLogEntry"/> to the queue. One counting serves both. With no accessLog section and
/// metrics disabled it passes the request on untouched: no allocation, no async frame.
/// </summary>
/// <remarks>
/// The completion work runs in the server's completion callback (<c>HttpResponse.OnCompleted</c>), not after an await
/// of the rest of the pipeline: an await made every request pay for an async state machine (about 200 bytes) and its
/// continuation. The server calls the callback after the response has ended (a request that failed with an exception
/// has its 500, or 499 when the client had gone, by then) and before ASP.NET Core records
/// <c>http.server.request.duration</c>, so the cluster label added here is still on that measurement. What the step took
/// at entry is kept on the connection's <see cref="CountingResponseBody"/>, so the callback's state is no new object.
/// </remarks>
internal sealed class AccessLogMiddleware
{
    private readonly RequestDelegate _next;
    private readonly SnapshotAccessor _snapshots;
    private readonly AccessLogQueue _queue;
    private readonly AccessLogSampler _sampler;
    private readonly TimeProvider _time;
    private readonly GatewayMetrics _metrics;
    private readonly Mesh.MeshEdgeMetrics _meshEdges;
    private readonly Func<object, Task> _onCompleted;

    public AccessLogMiddleware(RequestDelegate next, SnapshotAccessor snapshots, AccessLogQueue queue, AccessLogSampler sampler, TimeProvider time, GatewayMetrics metrics, Mesh.MeshEdgeMetrics meshEdges)
    {
        _next = next;
        _snapshots = snapshots;
        _queue = queue;
        _sampler = sampler;
        _time = time;
        _metrics = metrics;
        _meshEdges = meshEdges;
        _onCompleted = OnCompleted;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var snapshot = _snapshots.Current;
        var policy = snapshot.AccessLog;
        if (policy is null && !_metrics.Enabled) return _next(context);

        var responseBody = CountingResponseBody.For(context);
        responseBody.Context = context;
        responseBody.Policy = policy;
        responseBody.Started = 0;
        responseBody.ActiveSlot = _metrics.Enabled ? _metrics.RequestStarted(context.Request.Method, context.Request.IsHttps) : -1;
        // Only the access log reads the record and the wall-clock start, and only it and the mesh's edge metrics the
        // duration: with metrics alone on a plain gateway, none of them is made or read.
        if (policy is not null)
        {
            var record = new RequestRecord();
            context.Features.Set(record);
            responseBody.Record = record;
            responseBody.StartedAt = _time.GetUtcNow();
        }
        if (policy is not null || (_metrics.Enabled && snapshot.Definition.Mesh is not null)) responseBody.Started = Stopwatch.GetTimestamp();
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is not { CanHaveBody: false })
        {
            var requestBody = new CountingRequestBody(context.Request.Body);
            context.Request.Body = requestBody;
            responseBody.RequestBody = requestBody;
        }
        context.Features.Set<IHttpResponseBodyFeature>(responseBody);
        // Registered before any other step's callback: the server runs them last registered first, so this one sees their work.
        context.Response.OnCompleted(_onCompleted, responseBody);
        return _next(context);
    }

    private Task OnCompleted(object state)
    {
        var responseBody = (CountingResponseBody)state;
        var context = responseBody.Context!;
        if (responseBody.ActiveSlot >= 0) _metrics.RequestEnded(responseBody.ActiveSlot);
        try
        {
            Complete(context, responseBody);
        }
        finally
        {
            responseBody.Clear();
        }
        return Task.CompletedTask;
    }

    private void Complete(HttpContext context, CountingResponseBody responseBody)
    {
        var request = context.Request;
        var response = context.Response;
        var requestBody = responseBody.RequestBody;
        if (requestBody is not null) request.Body = requestBody.Inner;
        context.Features.Set(responseBody.Inner);

        // The server has set the final status by now: 500 for an exception that got past the error step before any
        // answer, 499 (nginx's "client closed request") when the client had gone before any answer.
        var status = response.StatusCode;
        var route = context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>();
        var proxy = context.Features.Get<IReverseProxyFeature>();
        // The proxy feature's cluster is the one the request went to (a traffic split may have changed it);
        // a request refused before forwarding has none, and counts for its route's cluster.
        var clusterId = proxy?.Cluster?.Config.ClusterId ?? route?.Cluster?.ClusterId ?? route?.Config.ClusterId;
        var started = responseBody.Started;
        var duration = started == 0 ? 0 : Stopwatch.GetTimestamp() - started;
        if (_metrics.Enabled)
        {
            RecordMetrics(context, route?.Config.RouteId, clusterId, requestBody, responseBody);
            // The mesh's golden metrics per edge: only requests on a meshTls listener or to a mesh cluster.
            if (started != 0) _meshEdges.Record(context, _snapshots.Current, clusterId, status, duration);
        }

        if (responseBody.Policy is not { } policy) return;
        if (status < 400 && !_sampler.Keep(policy.SampleSuccesses))
        {
            _queue.SampledOut();
            return;
        }

        var record = responseBody.Record!;
        // With tracing on, the request's trace id (sampled or not); without, the caller's (W3C traceparent) still correlates the line.
        var traceId = context.Features.Get<TraceContextFeature>()?.TraceId ?? (policy.Logs(AccessLogField.TraceId) ? CallerTraceId(request.Headers.TraceParent) : default);
        _queue.Enqueue(new AccessLogEntry
        {
            Policy = policy,
            Time = responseBody.StartedAt,
            DurationTicks = duration,
            UpstreamTicks = record.UpstreamTicks,
            Route = route?.Config.RouteId,
            Cluster = clusterId,
            Endpoint = proxy?.ProxiedDestination?.Model.Config.Address,
            Method = request.Method,
            Path = request.Path.Value,
            Query = policy.Query && request.QueryString.HasValue ? request.QueryString.Value : null,
            Status = status,
            BytesIn = requestBody?.BytesRead ?? 0,
            BytesOut = responseBody.BytesWritten,
            ClientIp = context.Features.Get<IClientAddressFeature>()?.ClientAddress ?? context.Connection.RemoteIpAddress,
            Consumer = policy.Logs(AccessLogField.Consumer) ? ConsumerOf(context) : null,
            TraceId = traceId,
            RequestId = traceId == default && policy.Logs(AccessLogField.TraceId) ? context.TraceIdentifier : null,
            Cache = record.CacheStatus,
            RateLimit = record.RateLimit,
            Fault = record.Fault,
            Attempts = record.Attempts,
        });
    }

    private void RecordMetrics(HttpContext context, string? routeId, string? clusterId, CountingRequestBody? requestBody, CountingResponseBody responseBody)
    {
        // ASP.NET Core records its request duration after the completion callbacks, with the tags on this feature
        // (present only while something listens): the routing step put the route there, the cluster goes here.
        if (clusterId is not null && context.Features.Get<IHttpMetricsTagsFeature>() is { } tags)
        {
            tags.Tags.Add(new(MetricsTags.Cluster, clusterId));
        }
        // The counting body is there only for a request that can have one (see above): null for the rest.
        _metrics.RecordBodySizes(context.Request.Method, routeId, clusterId, requestBody?.BytesRead, responseBody.BytesWritten);
    }

    /// <summary>The consumer the authentication step named, else the subject; null for anonymous requests.</summary>
    private static string? ConsumerOf(HttpContext context) =>
        // Read through the feature: HttpContext.User would create an empty principal for anonymous requests.
        ConsumerOf(context.Features.Get<IHttpAuthenticationFeature>()?.User);

    /// <summary>The consumer an authenticated principal names, else its subject; null for an anonymous request (no principal, or none authenticated).</summary>
    internal static string? ConsumerOf(System.Security.Claims.ClaimsPrincipal? user) =>
        user is { Identity.IsAuthenticated: true } ? user.FindFirst(MeshgateClaims.Consumer)?.Value ?? user.FindFirst(MeshgateClaims.Subject)?.Value : null;

    /// <summary>The trace id of a well-formed <c>traceparent</c>; default otherwise.</summary>
    internal static TraceId CallerTraceId(Microsoft.Extensions.Primitives.StringValues traceparent) =>
        TraceParent.TryParse(traceparent, out var traceId, out _, out _) ? traceId : default;
}
