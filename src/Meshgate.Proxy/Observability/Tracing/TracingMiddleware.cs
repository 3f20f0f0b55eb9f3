using System.Diagnostics;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// The request's step in tracing, installed only when tracing is on. It decides the request's trace context first
/// (<see cref="TraceContextFeature"/>: the caller's traceparent continued with its sampled flag, or a new trace sampled
/// at the configured ratio, read from the current snapshot) and starts a server span (<see cref="ServerSpan"/>) only for a
/// sampled request, around the rest of the pipeline. When tracing.responseHeader is set, every response (sampled or not:
/// the request has a trace id either way) carries the trace id; set when the response starts, it replaces an upstream's
/// header of that name and is also on the gateway's own error answers.
/// </summary>
/// <remarks>
/// An unsampled request gets no Activity, no async frame and no object of its own here (the context object is the
/// connection's): a header parse or a few random numbers, and a feature set.
/// </remarks>
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
        if (_snapshots.Current.Tracing is not { } policy) return _next(context);
        var trace = TraceContextFeature.For(context);
        trace.Begin(context.Request.Headers.TraceParent, policy.Sampling);
        context.Features.Set(trace);
        if (policy.ResponseHeader is not null) context.Response.OnStarting(_onStarting, context);
        return trace.Sampled ? RecordAsync(context, trace) : _next(context);
    }

    /// <summary>
    /// A sampled request: its server span around the rest of the pipeline. Being an async method, it also keeps the span's
    /// Activity.Current to this request's own flow (the upstream attempts read it), never to the connection's next request.
    /// </summary>
    private async Task RecordAsync(HttpContext context, TraceContextFeature trace)
    {
        // A new trace's root has no parent span id, so Activity.Start would adopt Activity.Current as its parent: ASP.NET
        // Core's own Activity, made only for its logging at debug level. Cleared here, inside this async method's flow.
        if (!trace.Continued && Activity.Current is not null) Activity.Current = null;
        using var span = ServerSpan.Start(context, trace);
        if (span is null)
        {
            trace.NotRecorded();
            await _next(context);
            return;
        }
        trace.Recording(span);
        try
        {
            await _next(context);
            ServerSpan.Answered(span, context.Response.StatusCode);
        }
        catch (Exception e)
        {
            ServerSpan.Failed(span, e);
            throw;
        }
        finally
        {
            trace.Ended();
        }
    }

    private Task OnStarting(object state)
    {
        var context = (HttpContext)state;
        if (_snapshots.Current.Tracing?.ResponseHeader is { } name && context.Features.Get<TraceContextFeature>() is { } trace)
        {
            context.Response.Headers[name] = trace.TraceId.ToString();
        }
        return Task.CompletedTask;
    }
}
