using Meshgate.Configuration;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Resilience.Hedging;
using Meshgate.Proxy.Resilience.Retries;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Meshgate.Proxy.Resilience;

public static class ResilienceServiceCollectionExtensions
{
    /// <summary>Retry budgets and what the retry step needs.</summary>
    public static IServiceCollection AddMeshgateResilience(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IRandomSource, SharedRandomSource>();
        services.TryAddSingleton<RetryBudgets>();
        services.AddMetrics();
        services.TryAddSingleton<ResilienceMetrics>();
        return services;
    }

    /// <summary>Puts the route's compiled resilience policy on its endpoint, for the retry step.</summary>
    internal static void ApplyToEndpoint(IEndpointConventionBuilder endpoint, RoutePolicy? policy, IServiceProvider services)
    {
        if (policy?.Resilience is not { } resilience) return;
        endpoint.WithMetadata(new RouteResilience(resilience, services.GetRequiredService<TimeProvider>(), services.GetRequiredService<IRandomSource>()));
    }

    /// <summary>The transforms of a route with a resilience policy: retry decisions on response headers, hedging plans.</summary>
    internal static void ApplyTransforms(TransformBuilderContext context, RoutePolicy? policy)
    {
        if (policy?.Resilience is not { } resilience)
        {
            // A mesh cluster's policy arrives with mesh snapshots: its routes get the retry transform in case it retries statuses.
            if (context.Cluster?.Metadata?.ContainsKey(Configuration.Compilation.MetadataKeys.MeshService) == true) context.ResponseTransforms.Add(RetryResponseTransform.Instance);
            return;
        }
        if (resilience.Retry is { Attempts: > 1 } || resilience.PerTryTimeout is not null) context.ResponseTransforms.Add(RetryResponseTransform.Instance);
        if (resilience.Hedging is { } hedging) context.RequestTransforms.Add(new HedgingRequestTransform(hedging));
    }
}
