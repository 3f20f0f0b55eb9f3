using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// Puts the request's trace id in the response header that tracing.responseHeader names, so a client can quote it.
/// Set when the response starts, so it replaces an upstream's header of the same name and survives the
/// gateway's own error answers. Installed only when tracing is on; sampled or not, the request has a trace id.
/// </summary>
internal sealed class TraceIdResponseHeaderMiddleware
{
    private readonly RequestDelegate _next;
    private readonly SnapshotAccessor _snapshots;
    private readonly Func<object, Task> _setHeader;

    public TraceIdResponseHeaderMiddleware(RequestDelegate next, SnapshotAccessor snapshots)
    {
        _next = next;
        _snapshots = snapshots;
        _setHeader = SetHeader;
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (_snapshots.Current.Tracing?.ResponseHeader is not null)
        {
            context.Response.OnStarting(_setHeader, context);
        }
        return _next(context);
    }

    private Task SetHeader(object state)
    {
        var context = (HttpContext)state;
        if (_snapshots.Current.Tracing?.ResponseHeader is { } name && context.Features.Get<IHttpActivityFeature>()?.Activity is { } activity)
        {
            context.Response.Headers[name] = activity.TraceId.ToHexString();
        }
        return Task.CompletedTask;
    }
}
