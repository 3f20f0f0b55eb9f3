using System.Globalization;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.RateLimiting.Local;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>What the rate-limit step decided for one request.</summary>
/// <param name="Outcome">The metric's and the access log's outcome: allowed, limited, store-failed-denied, store-failed-limited, store-failed-local or store-failed-allowed.</param>
/// <param name="Limit">The limit that decided: the route's, or its local fallback while the shared store is not answering (onStoreFailure: local).</param>
/// <param name="Decision">The limiter's answer, for the RateLimit headers; null when no limiter answered (store-failed-denied, store-failed-allowed).</param>
/// <param name="Held">A concurrency policy's partition, to release when the request ends.</param>
internal readonly record struct RateLimitVerdict(string Outcome, RouteRateLimit Limit, RateLimitDecision? Decision, LocalRateLimiter.Partition? Held)
{
    public bool Allowed => Outcome is not ("limited" or "store-failed-limited" or "store-failed-denied");
}

/// <summary>
/// The rate-limit step's decisions and answers, for the pipeline's step (<see cref="RateLimitingMiddleware"/>) and the
/// direct front end alike: counts a request against its route's limit (locally, through this node's lease of shared
/// permits, or in Redis), records the decision, and says what the client gets: the RateLimit headers
/// (draft-ietf-httpapi-ratelimit-headers-11) and, for a refusal, the problem.
/// </summary>
internal sealed class RateLimitGate(RateLimitingMetrics metrics, Redis.RedisRateLimitStore store, TimeProvider time)
{
    public const string PolicyHeader = "RateLimit-Policy";
    public const string StateHeader = "RateLimit";

    /// <summary>Counts the request; completes at once except when a shared limit asks Redis.</summary>
    public ValueTask<RateLimitVerdict> DecideAsync(RouteRateLimit limit, string key)
    {
        if (limit.Store is not null)
        {
            // A permit from this node's lease needs no round trip (and no async frame).
            if (limit.Leases is { } leases && leases.TryTake(key, out var leased)) return new(Record(new RateLimitVerdict("allowed", limit, leased, null)));
            return SharedAsync(limit, key);
        }
        var decision = limit.Limiter.Acquire(key, out var partition);
        var held = decision.Allowed && limit.Policy.Algorithm == RateLimitAlgorithm.Concurrency ? partition : null;
        return new(Record(new RateLimitVerdict(decision.Allowed ? "allowed" : "limited", limit, decision, held)));
    }

    private async ValueTask<RateLimitVerdict> SharedAsync(RouteRateLimit limit, string key)
    {
        var shared = limit.Leases is { } leases ? leases.AcquireAsync(store, limit.Store!, key) : store.TryAcquireAsync(limit.Store!, limit.Policy, key);
        if (await shared is { } decision) return Record(new RateLimitVerdict(decision.Allowed ? "allowed" : "limited", limit, decision, null));

        // Redis failed or was slow: the policy's onStoreFailure decides.
        switch (limit.Policy.OnStoreFailure)
        {
            case StoreFailureMode.Deny:
                return Record(new RateLimitVerdict("store-failed-denied", limit, null, null));
            case StoreFailureMode.Local:
                var local = limit.Limiter.Acquire(key, out _);
                return Record(new RateLimitVerdict(local.Allowed ? "store-failed-local" : "store-failed-limited", limit with { Policy = limit.Limiter.Policy }, local, null));
            default:
                return Record(new RateLimitVerdict("store-failed-allowed", limit, null, null));
        }
    }

    private RateLimitVerdict Record(RateLimitVerdict verdict)
    {
        metrics.Decided(verdict.Limit.RouteId, verdict.Limit.Policy.Name, verdict.Outcome);
        return verdict;
    }

    /// <summary>
    /// The headers the answer carries, replacing any the upstream sent (the gateway's limit is the one this client meets
    /// here): RateLimit-Policy and RateLimit when the policy asks for them or the request is refused, Retry-After when it
    /// is refused. Null values are headers the answer does not get.
    /// </summary>
    public (string? Policy, string? State, string? RetryAfter) Headers(RateLimitVerdict verdict)
    {
        // Whole seconds the client should wait; the store's failure has no decision: a second, to ask again.
        if (verdict.Decision is not { } decision) return (null, null, verdict.Allowed ? null : "1");
        var limit = verdict.Limit;
        if (verdict.Allowed && !limit.Policy.Headers) return (null, null, null);
        // A month's length varies, so a monthly quota's window (w) is this month's.
        var policyHeader = limit.Policy is { Algorithm: RateLimitAlgorithm.Quota, Period: QuotaPeriod.Month }
            ? limit.Policy.QuotaPolicyHeader(QuotaPeriods.Of(QuotaPeriod.Month, time.GetUtcNow()).Length)
            : limit.Policy.PolicyHeader;
        var state = limit.Policy.Algorithm == RateLimitAlgorithm.Concurrency
            ? $"\"{limit.Policy.Name}\";r={decision.Remaining}"
            : $"\"{limit.Policy.Name}\";r={decision.Remaining};t={Seconds(verdict.Allowed ? decision.Reset : decision.RetryAfter, minimum: 0)}";
        return (policyHeader, state, verdict.Allowed ? null : Seconds(decision.RetryAfter, minimum: 1).ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The problem for a refused request: 429 over the limit or quota, 503 while the store is not answering under onStoreFailure: deny.</summary>
    public (int Status, string Title, string Detail, string Code) Refusal(RateLimitVerdict verdict)
    {
        var policy = verdict.Limit.Policy;
        if (verdict.Decision is not { } decision)
        {
            return (StatusCodes.Status503ServiceUnavailable, "Rate limit unavailable",
                $"Rate limit '{policy.Name}' counts in a shared store that is not answering, and refuses requests meanwhile (onStoreFailure: deny).", "rate-limit-store-unavailable");
        }
        if (policy.Algorithm == RateLimitAlgorithm.Quota)
        {
            var period = QuotaPeriods.Of(policy.Period, time.GetUtcNow());
            return (StatusCodes.Status429TooManyRequests, "Quota exceeded",
                $"Quota '{policy.Name}' allows {policy.Limit} requests per {(policy.Period == QuotaPeriod.Month ? "calendar month" : "day")} (UTC) and is used up; " +
                $"it resets at {period.End.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}. Retry after {Seconds(decision.RetryAfter, minimum: 1)} s.", "quota-exceeded");
        }
        var detail = policy.Algorithm == RateLimitAlgorithm.Concurrency
            ? $"Rate limit '{policy.Name}' allows {policy.Limit} requests in flight at once."
            : $"Rate limit '{policy.Name}' allows {policy.Limit} requests per {Describe(policy.Window)}.";
        return (StatusCodes.Status429TooManyRequests, "Too many requests", detail + $" Retry after {Seconds(decision.RetryAfter, minimum: 1)} s.", "rate-limited");
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
