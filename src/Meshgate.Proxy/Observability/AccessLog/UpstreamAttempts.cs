using System.Diagnostics;
using Meshgate.Proxy.Observability.Metrics;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// The last step of YARP's proxy pipeline, around the forwarder: each call is one upstream attempt,
/// recorded with its time on the request's <see cref="RequestRecord"/> (when the access log put one there) and,
/// with metrics on, in <c>meshgate.upstream.duration</c>. With neither, the request passes with no async frame.
/// </summary>
/// <remarks>The one place that counts attempts that pass through YARP's pipeline: retries re-enter it, so each is counted here. Only hedges, which run below the forwarder, are counted by the hedging handler.</remarks>
internal sealed class UpstreamAttempts(RequestDelegate next, GatewayMetrics metrics)
{
    public Task InvokeAsync(HttpContext context)
    {
        var record = context.Features.Get<RequestRecord>();
        if (record is null && !metrics.Enabled) return next(context);
        return TimedAsync(context, record);
    }

    private async Task TimedAsync(HttpContext context, RequestRecord? record)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
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
}
