using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;

namespace Meshgate.Proxy.Resilience.Hedging;

/// <summary>
/// For a body-less idempotent request on a hedging route, hands the hedging handler its plan: the delay and
/// the cluster's other available endpoints. Other requests get no plan and are sent once, as usual.
/// </summary>
internal sealed class HedgingRequestTransform(HedgingPolicy policy) : RequestTransform
{
    public override ValueTask ApplyAsync(RequestTransformContext context)
    {
        var http = context.HttpContext;
        var method = http.Request.Method;
        var hedgeable = (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsDelete(method))
            && http.Request.ContentLength is null or 0
            && (http.Request.ContentLength is 0 || http.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != true);
        if (!hedgeable) return ValueTask.CompletedTask;

        var feature = http.GetReverseProxyFeature();
        var chosen = feature.ProxiedDestination;
        var available = http.GetRouteModel().Cluster?.DestinationsState.AvailableDestinations ?? feature.AllDestinations;
        List<string>? alternatives = null;
        foreach (var destination in available)
        {
            if (destination == chosen) continue;
            (alternatives ??= []).Add(destination.Model.Config.Address);
        }
        if (alternatives is null) return ValueTask.CompletedTask;
        // Spread hedges over the other endpoints instead of always sending them to the first one.
        if (alternatives.Count > 1) Random.Shared.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(alternatives));
        context.ProxyRequest.Options.Set(HedgingPlan.Key,
            new HedgingPlan(policy.Delay, policy.MaxAttempts, context.DestinationPrefix, alternatives, http.Features.Get<RequestRecord>()));
        return ValueTask.CompletedTask;
    }
}
