using Meshgate.Configuration;
using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.RateLimiting.Redis;
using System.Text.Json.Serialization;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>What the admin API shows of rate limiting: the policies' tables, the Redis store's health, one key's standing.</summary>
public interface IRateLimitState
{
    /// <summary>One entry per policy in the current config.</summary>
    IReadOnlyList<RateLimitPolicyView> Policies();

    /// <summary>Shared store health; null when no Redis store is configured.</summary>
    RateLimitStoreView? Store();

    /// <summary>
    /// Where <paramref name="key"/> stands in <paramref name="policy"/> now, without counting a request; null when
    /// the policy does not exist. The key is the gateway's form: <c>ip:203.0.113.9</c>, <c>consumer:alice</c>,
    /// <c>header:VALUE</c>, <c>claim:VALUE</c>, <c>route:ID</c>, parts of a combined key joined by a line feed.
    /// </summary>
    Task<RateLimitKeyView?> KeyAsync(string policy, string key);
}

public sealed record RateLimitPolicyView(string Name, string Algorithm, string Scope, int Limit, TimeSpan Window, int KeysTracked, long Overflowed)
{
    /// <summary>Quotas: day or month (UTC), in place of a window; left out of the JSON for other policies.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Period { get; init; }
}

public sealed record RateLimitStoreView(string Connection, bool Failing, long FallbackDecisions);

/// <param name="Remaining">Requests the key may make now; null when the shared store did not answer.</param>
/// <param name="Source">redis, local, or local-fallback (Redis not answering).</param>
public sealed record RateLimitKeyView(string Policy, string Key, string Source, int Limit, long? Remaining, TimeSpan Reset, TimeSpan RetryAfter)
{
    /// <summary>Quotas: day or month (UTC); null for other policies, and then left out of the JSON, as are the three below.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Period { get; init; }

    /// <summary>Quotas: requests counted in the current period.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Used { get; init; }

    /// <summary>Quotas: when the current period began.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? PeriodStart { get; init; }

    /// <summary>Quotas: when the count starts again from zero (the period's end).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? ResetsAt { get; init; }
}

internal sealed class RateLimitState(SnapshotAccessor snapshots, RateLimiters limiters, RedisRateLimitStore store, TimeProvider time) : IRateLimitState
{
    public IReadOnlyList<RateLimitPolicyView> Policies()
    {
        var tables = limiters.All.ToList();
        return Compiled().Select(p =>
        {
            var local = tables.Where(l => string.Equals(l.Policy.Name, p.Name, StringComparison.OrdinalIgnoreCase)).ToList();
            return new RateLimitPolicyView(p.Name, Name(p.Algorithm), Name(p.Scope), p.Limit, p.Window, local.Sum(l => l.PartitionCount), local.Sum(l => l.Overflowed))
            {
                Period = p.Algorithm == RateLimitAlgorithm.Quota ? Name(p.Period) : null,
            };
        }).ToList();
    }

    public RateLimitStoreView? Store() => snapshots.Current.Definition.Stores.Redis is { } redis ? new(redis.Connection!, store.Failing, store.Failures) : null;

    public async Task<RateLimitKeyView?> KeyAsync(string name, string key)
    {
        if (Compiled().FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)) is not { } policy) return null;
        if (policy.Scope == RateLimitScope.Shared && snapshots.Current.Definition.Stores.Redis is { } redis)
        {
            if (await store.TryAcquireAsync(redis, policy, key, dryRun: true) is { } shared) return View(policy, key, "redis", shared);
            var fallback = limiters.All.FirstOrDefault(l => l.Policy.Name == policy.Name && l.Policy.Limit <= policy.Limit && policy.OnStoreFailure == StoreFailureMode.Local);
            return fallback is null ? WithPeriod(new(policy.Name, key, "redis-unavailable", policy.Limit, null, TimeSpan.Zero, TimeSpan.Zero), policy) : View(fallback.Policy, key, "local-fallback", fallback.Peek(key));
        }
        var limiter = limiters.All.FirstOrDefault(l => l.Policy.Fingerprint == policy.Fingerprint);
        return View(policy, key, "local", limiter?.Peek(key) ?? new RateLimitDecision(true, policy.Limit + policy.Burst - 1, TimeSpan.Zero, TimeSpan.Zero));
    }

    // A peek decides as if one more request came: what the key may still make now is that one plus what would remain.
    private RateLimitKeyView View(RateLimitPolicy policy, string key, string source, RateLimitDecision decision)
    {
        var remaining = decision.Allowed ? decision.Remaining + 1 : 0;
        var view = WithPeriod(new(policy.Name, key, source, policy.Limit, remaining, decision.Reset, decision.RetryAfter), policy);
        return view.Period is null ? view : view with { Used = policy.Limit - remaining };
    }

    // A quota's report says which period it counts and when it resets; nothing in it comes from the request but the key.
    private RateLimitKeyView WithPeriod(RateLimitKeyView view, RateLimitPolicy policy)
    {
        if (policy.Algorithm != RateLimitAlgorithm.Quota) return view;
        var period = QuotaPeriods.Of(policy.Period, time.GetUtcNow());
        return view with { Period = Name(policy.Period), PeriodStart = period.Start, ResetsAt = period.End };
    }

    private IEnumerable<RateLimitPolicy> Compiled() =>
        snapshots.Current.RoutePolicies.Values.Select(r => r.RateLimit).OfType<RateLimitPolicy>().DistinctBy(p => p.Name, StringComparer.OrdinalIgnoreCase).OrderBy(p => p.Name, StringComparer.Ordinal);

    private static string Name<T>(T value) where T : Enum => System.Text.RegularExpressions.Regex.Replace(value.ToString(), "(?<!^)([A-Z])", "-$1").ToLowerInvariant();
}
