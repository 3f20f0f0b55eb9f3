using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Resilience.Retries;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Resilience;

/// <summary>
/// The retry step of YARP's proxy pipeline, before session affinity, load balancing and passive health,
/// so that every attempt is a full YARP attempt that may pick another endpoint. It also makes expired
/// per-try deadlines 504s (the route's whole-request deadline is the step before, see
/// <see cref="Timeouts.RequestDeadlineMiddleware"/>). A route without retries or a per-try timeout a resilience policy
/// passes straight through: one metadata lookup, no allocation, no async frame.
/// </summary>
internal sealed partial class ResilienceMiddleware(RequestDelegate next, RetryBudgets budgets, SnapshotAccessor snapshots, ResilienceMetrics metrics, ILogger<ResilienceMiddleware> logger)
{
    private static readonly HashSet<string> IdempotentMethods = new(StringComparer.OrdinalIgnoreCase)
    {
        HttpMethods.Get, HttpMethods.Head, HttpMethods.Options, HttpMethods.Put, HttpMethods.Delete, HttpMethods.Trace,
    };

    public Task InvokeAsync(HttpContext context)
    {
        var route = RouteResilience.Of(context.GetEndpoint());
        return route?.Policy is { Retry: not null } or { PerTryTimeout: not null } ? InvokeWithPolicyAsync(context, route) : next(context);
    }

    private async Task InvokeWithPolicyAsync(HttpContext context, RouteResilience route)
    {
        var policy = route.Policy;

        var clusterId = context.GetReverseProxyFeature().Cluster.Config.ClusterId;
        var budget = route.Retries is null ? null : budgets.For(clusterId);
        var budgetPolicy = snapshots.Current.ClusterPolicies.GetValueOrDefault(clusterId)?.RetryBudget ?? RetryBudgetPolicy.Default;
        var attempt = new RetryAttempt(context, next, policy, budget, budgetPolicy);
        context.Features.Set(attempt);
        budget?.RequestStarted();
        try
        {
            attempt.Replayable = route.Retries is not null
                && (policy.Retry!.NonIdempotent || IdempotentMethods.Contains(context.Request.Method))
                && await RequestBodyReplay.PrepareAsync(context, policy.Retry.MaxBufferedBody);

            if (attempt.Replayable)
            {
                // The first attempt runs outside Polly: a request answered at once (nearly every request) pays
                // for no pipeline context and none of its async frames. Only a failure enters the retry loop,
                // which starts from that outcome, so its delays, attempt numbers and cancellation are unchanged
                // (a request already cancelled goes straight to Polly, which refuses to start, as before).
                if (context.RequestAborted.IsCancellationRequested || await attempt.RunAsync() == AttemptVerdict.Retry)
                {
                    await route.Retries!.ExecuteAsync(static (state, _) => state.ContinueAsync(), attempt, context.RequestAborted);
                }
            }
            else
            {
                await attempt.RunAsync();
            }
            if (attempt.Number > 1)
            {
                metrics.Retried(context.GetReverseProxyFeature().Route.Config.RouteId, clusterId, attempt.Number - 1);
                LogAttempts(logger, context.Request.Method, context.Request.Path.Value, clusterId, attempt.Number, context.Response.StatusCode);
            }
            if (attempt.BudgetRefused) LogBudgetRefused(logger, clusterId, budget!.RetriesInFlight, budget.ActiveRequests);
        }
        finally
        {
            budget?.RequestEnded();
        }
    }

    [LoggerMessage(EventId = Common.EventIds.Resilience + 1, Level = LogLevel.Debug, Message = "{Method} {Path} to cluster {ClusterId} took {Attempts} attempts; answered {Status}")]
    internal static partial void LogAttempts(ILogger logger, string method, string? path, string clusterId, int attempts, int status);

    [LoggerMessage(EventId = Common.EventIds.Resilience + 2, Level = LogLevel.Debug, Message = "Retry budget of cluster {ClusterId} exhausted ({Retries} retries in flight, {Active} active requests); the failure is returned")]
    internal static partial void LogBudgetRefused(ILogger logger, string clusterId, int retries, int active);
}
