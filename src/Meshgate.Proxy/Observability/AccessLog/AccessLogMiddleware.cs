using System.Diagnostics;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.ForwardedHeaders;
using Meshgate.Proxy.Observability.Metrics;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// The outermost step: with the access log on, puts a <see cref="RequestRecord"/> on the request for the other steps to fill;
/// counts body bytes, and at completion records the request's metrics and hands one
/// <see cref="AccessLogEntry"/> to the queue. One counting serves both. With no accessLog section and
/// metrics disabled it passes the request on untouched: no allocation, no async frame.
/// </summary>
internal sealed class AccessLogMiddleware(RequestDelegate next, SnapshotAccessor snapshots, AccessLogQueue queue, AccessLogSampler sampler, TimeProvider time, GatewayMetrics metrics, Mesh.MeshEdgeMetrics meshEdges)
{
    public Task InvokeAsync(HttpContext context)
    {
        var snapshot = snapshots.Current;
        var policy = snapshot.AccessLog;
        if (policy is null && !metrics.Enabled) return next(context);

        // Only the access log reads the record and the wall-clock start, and only it and the mesh's edge metrics the
        // duration: with metrics alone on a plain gateway, none of them is made or read.
        RequestRecord? record = null;
        long started = 0;
        DateTimeOffset startedAt = default;
        if (policy is not null)
        {
            record = new RequestRecord();
            context.Features.Set(record);
            startedAt = time.GetUtcNow();
        }
        if (policy is not null || (metrics.Enabled && snapshot.Definition.Mesh is not null)) started = Stopwatch.GetTimestamp();
        CountingRequestBody? requestBody = null;
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is not { CanHaveBody: false })
        {
            requestBody = new CountingRequestBody(context.Request.Body);
            context.Request.Body = requestBody;
        }
        var responseBody = CountingResponseBody.For(context);
        context.Features.Set<IHttpResponseBodyFeature>(responseBody);
        var state = new RequestState(policy, started, startedAt, record, requestBody, responseBody);

        Task task;
        try
        {
            task = next(context);
        }
        catch
        {
            Complete(context, state, failed: true);
            throw;
        }
        if (task.IsCompletedSuccessfully && !responseBody.HasWriter)
        {
            Complete(context, state, failed: false);
            return Task.CompletedTask;
        }
        return AwaitAsync(context, state, task);
    }

    private async Task AwaitAsync(HttpContext context, RequestState state, Task task)
    {
        var failed = true;
        try
        {
            await task;
            await state.ResponseBody.FinishAsync();
            failed = false;
        }
        finally
        {
            Complete(context, state, failed);
        }
    }

    private void Complete(HttpContext context, RequestState state, bool failed)
    {
        var request = context.Request;
        var response = context.Response;
        if (state.RequestBody is { } requestBody) request.Body = requestBody.Inner;
        context.Features.Set(state.ResponseBody.Inner);

        // An exception that got past the error step means no answer was made: 499 when the client had
        // gone (nginx's "client closed request"), else the 500 the server is about to send.
        var status = failed && !response.HasStarted
            ? context.RequestAborted.IsCancellationRequested ? 499 : StatusCodes.Status500InternalServerError
            : response.StatusCode;
        var route = context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>();
        var proxy = context.Features.Get<IReverseProxyFeature>();
        // The proxy feature's cluster is the one the request went to (a traffic split may have changed it);
        // a request refused before forwarding has none, and counts for its route's cluster.
        var clusterId = proxy?.Cluster?.Config.ClusterId ?? route?.Cluster?.ClusterId ?? route?.Config.ClusterId;
        var duration = state.Started == 0 ? 0 : Stopwatch.GetTimestamp() - state.Started;
        if (metrics.Enabled)
        {
            RecordMetrics(context, route?.Config.RouteId, clusterId, state);
            // The mesh's golden metrics per edge: only requests on a meshTls listener or to a mesh cluster.
            if (state.Started != 0) meshEdges.Record(context, snapshots.Current, clusterId, status, duration);
        }

        if (state.Policy is not { } policy) return;
        if (status < 400 && !sampler.Keep(policy.SampleSuccesses))
        {
            queue.SampledOut();
            return;
        }

        var record = state.Record!;
        var activity = Activity.Current;
        // Without tracing there is no Activity; the caller's trace id (W3C traceparent) still correlates the line.
        var traceId = activity?.TraceId ?? (policy.Logs(AccessLogField.TraceId) ? CallerTraceId(request.Headers.TraceParent) : default);
        queue.Enqueue(new AccessLogEntry
        {
            Policy = policy,
            Time = state.StartedAt,
            DurationTicks = duration,
            UpstreamTicks = record.UpstreamTicks,
            Route = route?.Config.RouteId,
            Cluster = clusterId,
            Endpoint = proxy?.ProxiedDestination?.Model.Config.Address,
            Method = request.Method,
            Path = request.Path.Value,
            Query = policy.Query && request.QueryString.HasValue ? request.QueryString.Value : null,
            Status = status,
            BytesIn = state.RequestBody?.BytesRead ?? 0,
            BytesOut = state.ResponseBody.BytesWritten,
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

    private void RecordMetrics(HttpContext context, string? routeId, string? clusterId, RequestState state)
    {
        // ASP.NET Core records its request duration after this step returns, with the tags on this feature
        // (present only while something listens): the routing step put the route there, the cluster goes here.
        if (clusterId is not null && context.Features.Get<IHttpMetricsTagsFeature>() is { } tags)
        {
            tags.Tags.Add(new(MetricsTags.Cluster, clusterId));
        }
        metrics.RecordBodySizes(context.Request.Method, routeId, clusterId, state.RequestBody?.BytesRead ?? 0, state.ResponseBody.BytesWritten);
    }

    /// <summary>The consumer the authentication step named, else the subject; null for anonymous requests.</summary>
    private static string? ConsumerOf(HttpContext context)
    {
        // Read through the feature: HttpContext.User would create an empty principal for anonymous requests.
        if (context.Features.Get<IHttpAuthenticationFeature>()?.User is not { Identity.IsAuthenticated: true } user) return null;
        return user.FindFirst(MeshgateClaims.Consumer)?.Value ?? user.FindFirst(MeshgateClaims.Subject)?.Value;
    }

    /// <summary>What the step took at entry; a struct, so the synchronous path allocates nothing for it.</summary>
    /// <param name="Policy">The access log's policy; null when only metrics are on, and then so are the record and the start times.</param>
    private readonly record struct RequestState(AccessLogPolicy? Policy, long Started, DateTimeOffset StartedAt, RequestRecord? Record,
        CountingRequestBody? RequestBody, CountingResponseBody ResponseBody);

    /// <summary>The trace id of a well-formed <c>traceparent</c> (version 00: <c>00-{32 hex}-{16 hex}-{2 hex}</c>); default otherwise.</summary>
    internal static ActivityTraceId CallerTraceId(Microsoft.Extensions.Primitives.StringValues traceparent)
    {
        if (traceparent.Count != 1 || traceparent[0] is not { Length: 55 } value || !value.StartsWith("00-", StringComparison.Ordinal)
            || value[35] != '-' || value[52] != '-')
        {
            return default;
        }
        var id = value.AsSpan(3, 32);
        foreach (var c in id)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) return default;
        }
        return id.ContainsAnyExcept('0') ? ActivityTraceId.CreateFromString(id) : default;
    }
}
