using System.Diagnostics;
using System.Globalization;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// The server span of a sampled request: an Activity of the gateway's own source, started by <see cref="TracingMiddleware"/>
/// only once the request is known to be sampled, with the attributes of OpenTelemetry's HTTP server conventions. It is
/// named after the route ("GET orders") and tagged with the route and cluster ids, which are bounded, unlike the path.
/// An unsampled request has no span: every step here is a feature lookup for it.
/// </summary>
/// <remarks>
/// Not ASP.NET Core's Activity (source Microsoft.AspNetCore): as long as OpenTelemetry listened to that source, ASP.NET
/// Core created an Activity for every request, since OpenTelemetry's sampler answers "propagation only" for a dropped
/// root or remote parent, never "none" (about 450 bytes, 7 objects and an ExecutionContext per request at 1 % sampling).
/// </remarks>
internal static class ServerSpan
{
    public const string SourceName = "Meshgate.Server";

    private static readonly ActivitySource Source = new(SourceName);

    /// <summary>The span of a sampled request, child of the caller's span when the trace is continued; null when nothing listens.</summary>
    public static Activity? Start(HttpContext context, TraceContextFeature trace)
    {
        var request = context.Request;
        return Start(trace, TraceStateOf(request), request.Method, request.Scheme, request.Path.Value, request.Host.HasValue ? request.Host.Host : null,
            request.Host.Port ?? (request.IsHttps ? 443 : 80), ProtocolVersion(request.Protocol), request.Headers.UserAgent is { Count: > 0 } agent ? agent.ToString() : null);
    }

    /// <summary>As <see cref="Start(HttpContext, TraceContextFeature)"/>, from the request's parts (the direct front end has no HttpContext).</summary>
    /// <param name="host">The Host header's host, null without one; <paramref name="port"/> its port, or the scheme's.</param>
    public static Activity? Start(TraceContextFeature trace, string? tracestate, string method, string scheme, string? path, string? host, int port, string protocolVersion, string? userAgent)
    {
        var parent = trace.Continued ? trace.CallerContext(tracestate) : trace.NewTraceContext();
        // Named after the method until routing names it after the route (the convention's name without a route).
        var span = Source.CreateActivity(method, ActivityKind.Server, parent);
        if (span is null) return null;
        if (span.IsAllDataRequested)
        {
            span.SetTag("http.request.method", method);
            span.SetTag("url.scheme", scheme);
            span.SetTag("url.path", path);
            if (host is not null)
            {
                span.SetTag("server.address", host);
                span.SetTag("server.port", port);
            }
            span.SetTag("network.protocol.version", protocolVersion);
            if (userAgent is not null) span.SetTag("user_agent.original", userAgent);
        }
        span.Start();
        return span;
    }

    /// <summary>At the end of the request: the status, and for a 5xx (OpenTelemetry's server convention; 4xx is the caller's) an error.</summary>
    public static void Answered(Activity span, int status)
    {
        if (!span.IsAllDataRequested) return;
        span.SetTag("http.response.status_code", status);
        if (status >= 500)
        {
            span.SetTag("error.type", status.ToString(CultureInfo.InvariantCulture));
            span.SetStatus(ActivityStatusCode.Error);
        }
    }

    /// <summary>An exception got past the gateway's error step: the server answers 500 (or drops the connection).</summary>
    public static void Failed(Activity span, Exception e)
    {
        if (!span.IsAllDataRequested) return;
        span.SetTag("error.type", e.GetType().FullName);
        span.SetStatus(ActivityStatusCode.Error, e.Message);
    }

    /// <summary>At routing: "GET orders", with the route id, and the cluster the route names (a traffic split may change it later).</summary>
    public static void NameAfterRoute(HttpContext context, RouteModel route)
    {
        if (RecordedSpanOf(context) is { } activity) NameAfterRoute(activity, context.Request.Method, route);
    }

    /// <summary>As <see cref="NameAfterRoute(HttpContext, RouteModel)"/>, for a recorded span.</summary>
    public static void NameAfterRoute(Activity activity, string method, RouteModel route)
    {
        if (!activity.IsAllDataRequested) return;
        activity.DisplayName = method + " " + route.Config.RouteId;
        activity.SetTag(MetricsTags.Route, route.Config.RouteId);
        if (route.Config.Match.Path is { } path) activity.SetTag("http.route", path);
        if (route.Config.ClusterId is { } cluster) activity.SetTag(MetricsTags.Cluster, cluster);
    }

    /// <summary>In YARP's pipeline, after the traffic split: the cluster the request actually goes to.</summary>
    public static Task TagClusterAsync(HttpContext context, RequestDelegate next)
    {
        if (RecordedSpanOf(context) is { } activity && context.Features.Get<IReverseProxyFeature>()?.Cluster?.Config.ClusterId is { } cluster)
        {
            activity.SetTag(MetricsTags.Cluster, cluster);
        }
        return next(context);
    }

    private static Activity? RecordedSpanOf(HttpContext context) =>
        context.Features.Get<TraceContextFeature>()?.ServerSpan is { IsAllDataRequested: true } activity ? activity : null;

    /// <summary>The caller's tracestate (its values joined, as the header allows), kept on the span and sent on upstream.</summary>
    private static string? TraceStateOf(HttpRequest request) =>
        request.Headers.TryGetValue(TraceParent.StateHeader, out var state) && state.Count > 0 ? state.ToString() : null;

    private static string ProtocolVersion(string protocol) =>
        HttpProtocol.IsHttp11(protocol) ? "1.1" : HttpProtocol.IsHttp2(protocol) ? "2" : HttpProtocol.IsHttp3(protocol) ? "3" : HttpProtocol.IsHttp10(protocol) ? "1.0" : protocol;
}
