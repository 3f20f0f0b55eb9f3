using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Resilience.OutlierDetection;

/// <summary>
/// YARP's passive health step (where outlier detection sees each attempt's outcome), entered only for a cluster that
/// enables passive health. YARP's own step always awaits the rest of the pipeline and only then looks at the cluster's
/// settings, so every request of every cluster paid for an async state machine there (seen in an allocation profile);
/// deciding before the call costs a cluster without passive health one field read. The decision is the one YARP makes
/// after the call (options null or not enabled: nothing to do): the steps after this one do not change the cluster.
/// </summary>
internal sealed class PassiveHealthStep(RequestDelegate next, IEnumerable<IPassiveHealthCheckPolicy> policies)
{
    private readonly PassiveHealthCheckMiddleware _passive = new(next, policies);

    public Task InvokeAsync(HttpContext context) =>
        Enabled(context.GetReverseProxyFeature()) ? _passive.Invoke(context) : next(context);

    /// <summary>Whether YARP's passive health step would act on this request's cluster.</summary>
    internal static bool Enabled(IReverseProxyFeature proxy) => proxy.Cluster?.Config.HealthCheck?.Passive?.Enabled == true;
}
