using System.Diagnostics;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// The request's step in tracing, installed only when tracing is on. The server span itself is ASP.NET Core's
/// Activity, started before any middleware; ASP.NET Core records no HTTP attributes on it, so a recorded span gets
/// OpenTelemetry's basic ones here (method, path, scheme, and the status when the response starts). When
/// tracing.responseHeader is set, every response (sampled or not: the request has a trace id either way) carries
/// the trace id; set when the response starts, it replaces an upstream's header of that name and is also on the
/// gateway's own error answers.
/// </summary>
/// <remarks>An unsampled request without a response header costs a feature lookup and a snapshot read here.</remarks>
internal sealed class TracingMiddleware
{
    private readonly RequestDelegate _next;
    private readonly SnapshotAccessor _snapshots;
    private readonly Func<object, Task> _onStarting;

    public TracingMiddleware(RequestDelegate next, SnapshotAccessor snapshots)
    {
        _next = next;
        _snapshots = snapshots;
        _onStarting = OnStarting;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var activity = context.Features.Get<IHttpActivityFeature>()?.Activity;
        var recorded = activity is { IsAllDataRequested: true };
        if (recorded)
        {
            var request = context.Request;
            activity!.SetTag("http.request.method", request.Method);
            activity.SetTag("url.scheme", request.Scheme);
            activity.SetTag("url.path", request.Path.Value);
        }
        if (recorded || _snapshots.Current.Tracing?.ResponseHeader is not null)
        {
            context.Response.OnStarting(_onStarting, context);
        }
        return _next(context);
    }

    private Task OnStarting(object state)
    {
        var context = (HttpContext)state;
        if (context.Features.Get<IHttpActivityFeature>()?.Activity is not { } activity) return Task.CompletedTask;
        if (activity.IsAllDataRequested)
        {
            var status = context.Response.StatusCode;
            activity.SetTag("http.response.status_code", status);
            // OpenTelemetry's HTTP conventions: on a server span only 5xx is an error (4xx is the caller's).
            if (status >= 500)
            {
                activity.SetTag("error.type", status.ToString(System.Globalization.CultureInfo.InvariantCulture));
                activity.SetStatus(ActivityStatusCode.Error);
            }
        }
        if (_snapshots.Current.Tracing?.ResponseHeader is { } name)
        {
            context.Response.Headers[name] = activity.TraceId.ToHexString();
        }
        return Task.CompletedTask;
    }
}
