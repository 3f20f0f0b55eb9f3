using Meshgate.Proxy.Pipeline;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Meshgate.Proxy.Transforms;

/// <summary>Adds the transforms YARP's config keys cannot express to every route.</summary>
internal sealed class MeshgateTransformProvider(SnapshotAccessor snapshots) : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context) { }

    public void ValidateCluster(TransformClusterValidationContext context) { }

    public void Apply(TransformBuilderContext context)
    {
        context.UseDefaultForwarders = false;
        var snapshot = snapshots.Current;
        context.RequestTransforms.Insert(0, ConnectionHeadersTransform.Request);
        context.ResponseTransforms.Insert(0, ConnectionHeadersTransform.Response);
        context.RequestTransforms.Add(new ForwardedHeadersTransform(snapshots));
        if (GrpcOverH2cTransform.AppliesTo(context.Cluster)) context.RequestTransforms.Add(GrpcOverH2cTransform.Instance);
        if (snapshot.RoutePolicies.TryGetValue(context.Route.RouteId, out var policy) && policy.ReplacePrefix is { } replace)
        {
            context.RequestTransforms.Add(new ReplacePrefixTransform(replace.From!, replace.To!));
        }
        Resilience.ResilienceServiceCollectionExtensions.ApplyTransforms(context, policy);
    }
}
