using System.Diagnostics;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// The last step of YARP's proxy pipeline, around the forwarder: each call is one upstream attempt,
/// recorded with its time on the request's <see cref="RequestRecord"/>. Only when a record is present
/// (the access log is on); otherwise the request passes with no async frame.
/// </summary>
/// <remarks>The one place that counts attempts that pass through YARP's pipeline: retries re-enter it, so each is counted here. Only hedges, which run below the forwarder, are counted by the hedging handler.</remarks>
internal static class UpstreamAttempts
{
    public static Task RecordAsync(HttpContext context, RequestDelegate next)
    {
        if (context.Features.Get<RequestRecord>() is not { } record) return next(context);
        return TimedAsync(context, next, record);
    }

    private static async Task TimedAsync(HttpContext context, RequestDelegate next, RequestRecord record)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            record.AddAttempt(Stopwatch.GetTimestamp() - started);
        }
    }
}
