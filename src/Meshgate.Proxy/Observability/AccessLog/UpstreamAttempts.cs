using System.Diagnostics;
using Meshgate.Proxy.Observability.Metrics;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// The last step of YARP's proxy pipeline before YARP's forwarder, for the requests the direct HTTP/1.1 path hands on: each
/// call is one upstream attempt, recorded with its time on the request's <see cref="RequestRecord"/> (when the access log
/// put one there) and, with metrics on, in <c>meshgate.upstream.duration</c>. With neither, the request passes with no async frame.
/// </summary>
/// <remarks>
/// Retries re-enter YARP's pipeline, so each attempt is counted here or by the direct path: the
/// direct path (<see cref="Upstream.Http1.Http1Forwarder"/>, the step before this one) times its own attempts with
/// <see cref="Start"/> and <see cref="Record"/> at the end of the async method it has anyway: an await here around it
/// cost every request an async state machine (about 100 bytes) and a continuation. Only hedges, which run below YARP's
/// forwarder, are counted by the hedging handler.
/// </remarks>
internal sealed class UpstreamAttempts(RequestDelegate next, GatewayMetrics metrics)
{
    public Task InvokeAsync(HttpContext context)
    {
        var started = Start(context, metrics);
        return started == 0 ? next(context) : TimedAsync(context, started);
    }

    private async Task TimedAsync(HttpContext context, long started)
    {
        try
        {
            await next(context);
        }
        finally
        {
            Record(context, context.Features.Get<RequestRecord>(), metrics, started);
        }
    }

    /// <summary>When an attempt begins: its start time; 0 when neither the access log nor metrics want it.</summary>
    /// <remarks>Only the time is kept, not the record: it is one field more in the caller's async state machine, which the plain route allocates too.</remarks>
    public static long Start(HttpContext context, GatewayMetrics metrics) =>
        !metrics.Enabled && context.Features.Get<RequestRecord>() is null ? 0 : Stopwatch.GetTimestamp();

    /// <summary>When an attempt has ended (its response relayed or its failure set on the response): its time on the record and in the metric.</summary>
    public static void Record(HttpContext context, RequestRecord? record, GatewayMetrics metrics, long started)
    {
        // One clock read serves the record and the metric.
        var elapsed = Stopwatch.GetTimestamp() - started;
        record?.AddAttempt(elapsed);
        if (metrics.Enabled)
        {
            var proxy = context.GetReverseProxyFeature();
            metrics.RecordUpstreamAttempt(proxy.Route.Config.RouteId, proxy.Cluster.Config.ClusterId, context.Response.StatusCode, (double)elapsed / Stopwatch.Frequency);
        }
    }
}
