using System.Diagnostics;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// The request's server span is ASP.NET Core's own Activity (source Microsoft.AspNetCore); these name it after
/// the route and tag it with the route and cluster ids, which are bounded, unlike the path. Only recorded spans
/// are touched: an unsampled request pays a feature lookup.
/// </summary>
internal static class ServerSpan
{
    /// <summary>At routing: "GET orders", with the route id, and the cluster the route names (a traffic split may change it later).</summary>
    public static void NameAfterRoute(HttpContext context, RouteModel route)
    {
        if (RecordedSpanOf(context) is not { } activity) return;
        activity.DisplayName = context.Request.Method + " " + route.Config.RouteId;
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
        context.Features.Get<IHttpActivityFeature>()?.Activity is { IsAllDataRequested: true } activity ? activity : null;
}
