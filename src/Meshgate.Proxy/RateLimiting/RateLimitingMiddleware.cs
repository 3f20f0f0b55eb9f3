using System.Globalization;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Errors;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.RateLimiting.Local;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>
/// Pipeline slot 7: counts the request against the route's policy, after authentication so the key can be the
/// consumer. A refused request gets 429 problem+json with Retry-After and the RateLimit headers
/// (draft-ietf-httpapi-ratelimit-headers-11); an allowed one gets the headers when the policy asks for them.
/// Routes without a policy pass straight on: no allocation, no async frame.
/// </summary>
internal sealed class RateLimitingMiddleware(RequestDelegate next, RateLimitingMetrics metrics, Redis.RedisRateLimitStore store, TimeProvider time)
{
    public const string PolicyHeader = "RateLimit-Policy";
    public const string StateHeader = "RateLimit";

    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<RouteRateLimit>() is not { } limit) return next(context);

        var key = RateLimitKeys.For(context, limit.Policy.Key, limit.RouteId);
        if (limit.Store is not null)
        {
            // A permit from this node's lease needs no round trip (and no async frame of ours).
            if (limit.Leases is { } leases && leases.TryTake(key, out var leased))
            {
                Allow(context, limit, leased, "allowed");
                return next(context);
            }
            return SharedAsync(context, limit, key);
        }
        var decision = limit.Limiter.Acquire(key, out var partition);
        if (!decision.Allowed) return RejectAsync(context, limit, decision, "limited");
        Allow(context, limit, decision, "allowed");
        return limit.Policy.Algorithm == RateLimitAlgorithm.Concurrency ? HoldAsync(context, partition) : next(context);
    }

    private void Allow(HttpContext context, RouteRateLimit limit, RateLimitDecision decision, string outcome)
    {
        context.Features.Get<RequestRecord>()?.RateLimit = outcome;
        metrics.Decided(limit.RouteId, limit.Policy.Name, outcome);
        if (limit.Policy.Headers) AddHeadersWhenStarting(context, limit, decision, retryAfter: false);
    }

    private async Task SharedAsync(HttpContext context, RouteRateLimit limit, string key)
    {
        var shared = limit.Leases is { } leases ? leases.AcquireAsync(store, limit.Store!, key) : store.TryAcquireAsync(limit.Store!, limit.Policy, key);
        if (await shared is { } decision)
        {
            if (!decision.Allowed)
            {
                await RejectAsync(context, limit, decision, "limited");
                return;
            }
            Allow(context, limit, decision, "allowed");
            await next(context);
            return;
        }

        // Redis failed or was slow: the policy's onStoreFailure decides.
        switch (limit.Policy.OnStoreFailure)
        {
            case StoreFailureMode.Deny:
                context.Features.Get<RequestRecord>()?.RateLimit = "store-failed-denied";
                metrics.Decided(limit.RouteId, limit.Policy.Name, "store-failed-denied");
                context.Response.Headers.RetryAfter = "1";
                await ProblemResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Rate limit unavailable",
                    $"Rate limit '{limit.Policy.Name}' counts in a shared store that is not answering, and refuses requests meanwhile (onStoreFailure: deny).", "rate-limit-store-unavailable");
                return;
            case StoreFailureMode.Local:
                var local = limit.Limiter.Acquire(key, out _);
                if (!local.Allowed)
                {
                    await RejectAsync(context, limit with { Policy = limit.Limiter.Policy }, local, "store-failed-limited");
                    return;
                }
                Allow(context, limit with { Policy = limit.Limiter.Policy }, local, "store-failed-local");
                break;
            default:
                context.Features.Get<RequestRecord>()?.RateLimit = "store-failed-allowed";
                metrics.Decided(limit.RouteId, limit.Policy.Name, "store-failed-allowed");
                break;
        }
        await next(context);
    }

    private async Task HoldAsync(HttpContext context, LocalRateLimiter.Partition partition)
    {
        try
        {
            await next(context);
        }
        finally
        {
            LocalRateLimiter.Release(partition);
        }
    }

    private Task RejectAsync(HttpContext context, RouteRateLimit limit, RateLimitDecision decision, string outcome)
    {
        context.Features.Get<RequestRecord>()?.RateLimit = outcome;
        metrics.Decided(limit.RouteId, limit.Policy.Name, outcome);
        // The problem writer clears the response's headers first; these go on when it starts the body.
        AddHeadersWhenStarting(context, limit, decision, retryAfter: true);
        var policy = limit.Policy;
        if (policy.Algorithm == RateLimitAlgorithm.Quota)
        {
            var period = QuotaPeriods.Of(policy.Period, time.GetUtcNow());
            return ProblemResponses.WriteAsync(context, StatusCodes.Status429TooManyRequests, "Quota exceeded",
                $"Quota '{policy.Name}' allows {policy.Limit} requests per {(policy.Period == QuotaPeriod.Month ? "calendar month" : "day")} (UTC) and is used up; " +
                $"it resets at {period.End.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}. Retry after {Seconds(decision.RetryAfter, minimum: 1)} s.", "quota-exceeded");
        }
        var detail = policy.Algorithm == RateLimitAlgorithm.Concurrency
            ? $"Rate limit '{policy.Name}' allows {policy.Limit} requests in flight at once."
            : $"Rate limit '{policy.Name}' allows {policy.Limit} requests per {Describe(policy.Window)}.";
        return ProblemResponses.WriteAsync(context, StatusCodes.Status429TooManyRequests, "Too many requests",
            detail + $" Retry after {Seconds(decision.RetryAfter, minimum: 1)} s.", "rate-limited");
    }

    private void AddHeadersWhenStarting(HttpContext context, RouteRateLimit limit, RateLimitDecision decision, bool retryAfter)
    {
        // A month's length varies, so a monthly quota's window (w) is this month's.
        var policyHeader = limit.Policy is { Algorithm: RateLimitAlgorithm.Quota, Period: QuotaPeriod.Month }
            ? limit.Policy.QuotaPolicyHeader(QuotaPeriods.Of(QuotaPeriod.Month, time.GetUtcNow()).Length)
            : limit.Policy.PolicyHeader;
        context.Response.OnStarting(static state =>
        {
            var (response, limit, decision, retryAfter, policyHeader) = ((HttpResponse, RouteRateLimit, RateLimitDecision, bool, string))state;
            var headers = response.Headers;
            // Ours replace any the upstream sent: the gateway's limit is the one this client meets here.
            headers[PolicyHeader] = policyHeader;
            headers[StateHeader] = limit.Policy.Algorithm == RateLimitAlgorithm.Concurrency
                ? $"\"{limit.Policy.Name}\";r={decision.Remaining}"
                : $"\"{limit.Policy.Name}\";r={decision.Remaining};t={Seconds(retryAfter ? decision.RetryAfter : decision.Reset, minimum: 0)}";
            if (retryAfter) headers.RetryAfter = Seconds(decision.RetryAfter, minimum: 1).ToString(CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        }, (context.Response, limit, decision, retryAfter, policyHeader));
    }

    // Whole seconds, rounded up so a client that waits that long finds room.
    private static long Seconds(TimeSpan span, long minimum) => Math.Max(minimum, (long)Math.Ceiling(span.TotalSeconds - 1e-9));

    private static string Describe(TimeSpan window) => window switch
    {
        { TotalSeconds: 1 } => "second",
        { TotalMinutes: 1 } => "minute",
        { TotalHours: 1 } => "hour",
        { TotalDays: 1 } => "day",
        _ when window.TotalMilliseconds < 1000 => $"{window.TotalMilliseconds:0} ms",
        _ => $"{window.TotalSeconds:0.###} s",
    };
}
