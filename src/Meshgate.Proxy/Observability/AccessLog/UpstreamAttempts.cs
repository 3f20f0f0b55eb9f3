using System.Diagnostics;
using Meshgate.Proxy.Observability.Metrics;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// The last step of YARP's proxy pipeline, around the forwarder: each call is one upstream attempt,
/// recorded with its time on the request's <see cref="RequestRecord"/> and, with metrics on, in
/// <c>meshgate.upstream.duration</c>. Only when a record is present (the access log or metrics are on);
/// otherwise the request passes with no async frame.
/// </summary>
/// <remarks>The one place that counts attempts that pass through YARP's pipeline: retries re-enter it, so each is counted here. Only hedges, which run below the forwarder, are counted by the hedging handler.</remarks>
internal sealed class UpstreamAttempts(RequestDelegate next, GatewayMetrics metrics)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Features.Get<RequestRecord>() is not { } record) return next(context);
        return TimedAsync(context, record);
    }

    private async Task TimedAsync(HttpContext context, RequestRecord record)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            var elapsed = Stopwatch.GetTimestamp() - started;
            record.AddAttempt(elapsed);
            if (metrics.Enabled)
            {
                var proxy = context.GetReverseProxyFeature();
                metrics.RecordUpstreamAttempt(proxy.Route.Config.RouteId, proxy.Cluster.Config.ClusterId, context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalSeconds);
            }
        }
    }
}
