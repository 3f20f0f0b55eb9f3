using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>The top-level resilience policies, the routes' references to them and the clusters' retry budgets.</summary>
internal static class ResilienceValidator
{
    /// <summary>The policy that applies to routes that name none.</summary>
    public const string Default = "default";

    /// <summary>The route value that turns resilience off; no policy may take the name.</summary>
    public const string Disable = "disable";

    public const int MaxAttempts = 10;
    public const int MaxHedgedAttempts = 5;

    /// <summary>The retry-on conditions, as written in <c>retries.on</c>.</summary>
    public static readonly string[] Conditions = ["connect-failure", "reset", "timeout", "gateway-error", "5xx"];

    /// <summary>Methods that hedging may send twice: idempotent and without a body.</summary>
    public static readonly string[] HedgedMethods = ["GET", "HEAD", "OPTIONS", "DELETE"];

    public static void Validate(MeshgateDefinition definition, ValidationContext context)
    {
        foreach (var (name, policy) in definition.Resilience)
        {
            var path = $"resilience.{name}";
            if (string.Equals(name, Disable, StringComparison.OrdinalIgnoreCase))
            {
                context.Error(path, "the name 'disable' is reserved (a route's resilience: disable turns resilience off)");
            }
            ValidatePolicy(policy, path, context);
        }

        for (var i = 0; i < definition.Routes.Count; i++)
        {
            var route = definition.Routes[i];
            var name = route.Resilience;
            if (name is not null && string.Equals(name, Disable, StringComparison.OrdinalIgnoreCase)) continue;
            if (name is not null && !definition.Resilience.ContainsKey(name))
            {
                context.UnknownReference($"routes[{i}].resilience", "resilience policy", name, definition.Resilience.Keys.ToList(), "no resilience policies are defined");
                continue;
            }
            // A route that can only take methods hedging never sends would carry a hedging policy for nothing.
            if (name is not null && definition.Resilience[name].Hedging is not null
                && route.Match?.Methods is { Count: > 0 } methods
                && !methods.Any(m => HedgedMethods.Contains(m, StringComparer.OrdinalIgnoreCase)))
            {
                context.Error($"routes[{i}].resilience", $"policy '{name}' hedges, but hedging sends only body-less idempotent requests ({string.Join(", ", HedgedMethods)}) and this route takes {string.Join(", ", methods)}");
            }
        }

        for (var i = 0; i < definition.Clusters.Count; i++)
        {
            var budget = definition.Clusters[i].RetryBudget;
            var path = $"clusters[{i}].retryBudget";
            if (!double.IsFinite(budget.Percent) || budget.Percent < 0 || budget.Percent > 100) context.Error($"{path}.percent", $"{budget.Percent} is out of range: give 0..100 (percent of active requests)");
            if (budget.MinConcurrent < 0) context.Error($"{path}.minConcurrent", $"{budget.MinConcurrent} must not be negative");
        }
    }

    private static void ValidatePolicy(ResiliencePolicyDefinition policy, string path, ValidationContext context)
    {
        if (policy.Timeout is { } timeout && timeout <= TimeSpan.Zero) context.Error($"{path}.timeout", "must be greater than zero");
        if (policy.PerTryTimeout is { } perTry)
        {
            if (perTry <= TimeSpan.Zero) context.Error($"{path}.perTryTimeout", "must be greater than zero");
            else if (policy.Timeout is { } whole && whole > TimeSpan.Zero && perTry > whole)
            {
                context.Error($"{path}.perTryTimeout", $"{Duration.Format(perTry)} is longer than timeout {Duration.Format(whole)}: one attempt cannot outlast the whole request");
            }
        }
        if (policy.Retries is { } retries) ValidateRetries(retries, $"{path}.retries", context);
        if (policy.Hedging is { } hedging)
        {
            if (hedging.Delay is { } delay && delay <= TimeSpan.Zero) context.Error($"{path}.hedging.delay", "must be greater than zero");
            if (hedging.MaxAttempts is < 2 or > MaxHedgedAttempts) context.Error($"{path}.hedging.maxAttempts", $"{hedging.MaxAttempts} is out of range: give 2..{MaxHedgedAttempts} (attempts in flight, the first included)");
            if (policy.Retries?.NonIdempotent == true)
            {
                context.Error($"{path}.hedging", "cannot be used with retries.nonIdempotent: true; hedging sends requests twice at once, which only idempotent requests allow (put non-idempotent retries in a policy of their own)");
            }
        }
    }

    private static void ValidateRetries(RetryDefinition retries, string path, ValidationContext context)
    {
        if (retries.Attempts is < 1 or > MaxAttempts) context.Error($"{path}.attempts", $"{retries.Attempts} is out of range: give 1..{MaxAttempts} (attempts in all, the first included)");
        if (retries.On is { } on)
        {
            for (var i = 0; i < on.Count; i++)
            {
                if (Conditions.Contains(on[i], StringComparer.OrdinalIgnoreCase)) continue;
                var guess = Spelling.Closest(on[i], Conditions);
                context.Error($"{path}.on[{i}]", $"unknown retry condition '{on[i]}'" + (guess is not null ? $" (did you mean '{guess}'?)" : $" (one of {string.Join(", ", Conditions)}; for a status, use statusCodes)"));
            }
        }
        if (retries.StatusCodes is { } codes)
        {
            for (var i = 0; i < codes.Count; i++)
            {
                if (codes[i] is < 100 or > 599) context.Error($"{path}.statusCodes[{i}]", $"{codes[i]} is not an HTTP status (100..599)");
            }
        }
        if (retries.MaxBufferedBody.Bytes > 64L * 1024 * 1024) context.Error($"{path}.maxBufferedBody", $"{retries.MaxBufferedBody} is more than 64MiB; every retried request keeps its body in memory");
        if (retries.Backoff.Base < TimeSpan.Zero) context.Error($"{path}.backoff.base", "must not be negative");
        if (retries.Backoff.Max < TimeSpan.Zero) context.Error($"{path}.backoff.max", "must not be negative");
        else if (retries.Backoff.Max < retries.Backoff.Base) context.Error($"{path}.backoff.max", $"{Duration.Format(retries.Backoff.Max)} is shorter than base {Duration.Format(retries.Backoff.Base)}");
    }
}
