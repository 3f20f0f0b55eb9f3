using Meshgate.Configuration.Model;
using Meshgate.Configuration.Validation;

namespace Meshgate.Configuration.Compilation;

/// <summary>Builds <see cref="ResiliencePolicy"/> objects from validated definitions, once per snapshot.</summary>
internal static class ResiliencePolicyCompiler
{
    public static Dictionary<string, ResiliencePolicy> CompileAll(IReadOnlyDictionary<string, ResiliencePolicyDefinition> definitions) =>
        definitions.ToDictionary(d => d.Key, d => Compile(d.Key, d.Value), StringComparer.OrdinalIgnoreCase);

    /// <summary>The route's policy: the one it names, else <c>default</c> when defined; null for none or disable.</summary>
    public static ResiliencePolicy? ForRoute(RouteDefinition route, IReadOnlyDictionary<string, ResiliencePolicy> policies)
    {
        var name = route.Resilience ?? ResilienceValidator.Default;
        return !string.Equals(name, ResilienceValidator.Disable, StringComparison.OrdinalIgnoreCase) && policies.TryGetValue(name, out var policy) ? policy : null;
    }

    public static ResiliencePolicy Compile(string name, ResiliencePolicyDefinition definition)
    {
        RetryPolicy? retry = null;
        if (definition.Retries is { } r)
        {
            var on = RetryOn.None;
            foreach (var condition in r.On ?? ["connect-failure", "reset", "gateway-error"])
            {
                on |= condition.ToLowerInvariant() switch
                {
                    "connect-failure" => RetryOn.ConnectFailure,
                    "reset" => RetryOn.Reset,
                    "timeout" => RetryOn.Timeout,
                    "gateway-error" => RetryOn.GatewayStatus | RetryOn.ConnectFailure | RetryOn.Reset | RetryOn.Timeout,
                    "5xx" => RetryOn.ServerErrorStatus | RetryOn.ConnectFailure | RetryOn.Reset | RetryOn.Timeout,
                    _ => RetryOn.None,
                };
            }
            retry = new RetryPolicy(r.Attempts, on, r.StatusCodes ?? [], r.NonIdempotent, r.MaxBufferedBody.Bytes, r.Backoff.Base, r.Backoff.Max);
        }
        var hedging = definition.Hedging is { Delay: { } delay } h ? new HedgingPolicy(delay, h.MaxAttempts) : null;
        return new ResiliencePolicy(name, definition.Timeout, definition.PerTryTimeout, retry, hedging);
    }
}
