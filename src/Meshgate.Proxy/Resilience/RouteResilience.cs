using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Resilience.Retries;
using Polly;

namespace Meshgate.Proxy.Resilience;

/// <summary>
/// Endpoint metadata of a route with a resilience policy: the compiled policy and the Polly retry
/// pipeline built from it, once per endpoint build. Routes without a policy carry none.
/// </summary>
internal sealed class RouteResilience
{
    public RouteResilience(ResiliencePolicy policy, TimeProvider time, IRandomSource random)
    {
        Policy = policy;
        if (policy.Retry is { Attempts: > 1 } retry)
        {
            Retries = new ResiliencePipelineBuilder<AttemptVerdict> { TimeProvider = time }
                .AddRetry(new Polly.Retry.RetryStrategyOptions<AttemptVerdict>
                {
                    MaxRetryAttempts = retry.Attempts - 1,
                    // The attempt itself decides (it knows the forwarder's outcome and holds the budget); Polly loops and waits.
                    ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Result == AttemptVerdict.Retry),
                    DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(Backoff.Delay(retry.BackoffBase, retry.BackoffMax, args.AttemptNumber, random)),
                })
                .Build();
        }
    }

    public ResiliencePolicy Policy { get; }

    /// <summary>The route's own policy, else (for a route to a mesh cluster) the mesh's policy for the callee service.</summary>
    public static RouteResilience? Of(Microsoft.AspNetCore.Http.Endpoint? endpoint) =>
        endpoint is null ? null : endpoint.Metadata.GetMetadata<RouteResilience>() ?? endpoint.Metadata.GetMetadata<Mesh.Discovery.MeshRouteResilience>()?.Current;

    /// <summary>The retry loop; null when the policy makes one attempt only.</summary>
    public ResiliencePipeline<AttemptVerdict>? Retries { get; }
}
