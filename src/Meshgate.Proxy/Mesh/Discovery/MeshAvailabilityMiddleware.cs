using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Errors;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Mesh.Discovery;

/// <summary>
/// A mesh cluster without destinations says why: the first mesh snapshot has not arrived yet, or the service has no
/// live instance. In YARP's pipeline after the traffic split (which may pick the cluster); a cluster that has
/// destinations (every static one) costs one count check.
/// </summary>
internal sealed class MeshAvailabilityMiddleware(RequestDelegate next, MeshDirectory directory)
{
    public Task InvokeAsync(HttpContext context)
    {
        var feature = context.GetReverseProxyFeature();
        if (feature.AllDestinations.Count > 0 || feature.Cluster.Config.Metadata?.GetValueOrDefault(MetadataKeys.MeshService) is not { } service)
        {
            return next(context);
        }
        return directory.HasSnapshot
            ? ProblemResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "No live instance",
                $"The mesh service '{service}' has no live instance registered with the control plane.", "mesh-no-instances")
            : ProblemResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Mesh not ready",
                $"The mesh snapshot has not arrived yet from the control plane, so the instances of '{service}' are not known.", "mesh-snapshot-pending");
    }
}
