using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Compilation;

public enum RateLimitKeyKind { ClientIp, Consumer, Claim, Header, Route }

/// <summary>One part of a rate-limit key; <paramref name="Name"/> is the claim or header name, empty otherwise.</summary>
public sealed record RateLimitKeyPart(RateLimitKeyKind Kind, string Name);

/// <summary>A compiled rate-limit policy, put on the endpoints of the routes that name it.</summary>
/// <param name="Name">The policy's name in rateLimits, used in the RateLimit headers and the limiter state's identity.</param>
/// <param name="Window">The counting window; zero for concurrency.</param>
/// <param name="Burst">token-bucket: requests above the limit a full bucket holds; 0 otherwise.</param>
/// <param name="Headers">Send the RateLimit headers on allowed responses too.</param>
public sealed record RateLimitPolicy(string Name, RateLimitAlgorithm Algorithm, int Limit, TimeSpan Window, int Burst, IReadOnlyList<RateLimitKeyPart> Key, bool Headers)
{
    /// <summary>local or shared (through Redis).</summary>
    public RateLimitScope Scope { get; init; }

    /// <summary>Shared only: what a decision does when Redis fails or is slow.</summary>
    public StoreFailureMode OnStoreFailure { get; init; }

    /// <summary>With onStoreFailure local: the nodes the limit is divided among while Redis is away.</summary>
    public int Nodes { get; init; } = 1;

    /// <summary>quota only: the calendar period (UTC) the limit counts over.</summary>
    public QuotaPeriod Period { get; init; }

    /// <summary>The settings that decide counting; limiter state survives a reload while these stay equal.</summary>
    public string Fingerprint => field ??= string.Join('|', Name.ToLowerInvariant(), Algorithm, Limit, Window.Ticks, Burst, Period, string.Join(',', Key.Select(k => $"{k.Kind}:{k.Name}")));

    /// <summary>
    /// The RateLimit-Policy header value (draft-ietf-httpapi-ratelimit-headers-11), built once. A monthly quota's
    /// window is the month's length, so its header is built per request instead (<see cref="QuotaPolicyHeader"/>).
    /// </summary>
    public string PolicyHeader => field ??= Algorithm switch
    {
        RateLimitAlgorithm.Concurrency => $"\"{Name}\";q={Limit}",
        RateLimitAlgorithm.Quota => QuotaPolicyHeader(TimeSpan.FromDays(1)),
        _ => $"\"{Name}\";q={Limit};w={Math.Max(1, (long)Math.Ceiling(Window.TotalSeconds))}",
    };

    /// <summary>The RateLimit-Policy value of a quota whose current period lasts <paramref name="period"/>.</summary>
    public string QuotaPolicyHeader(TimeSpan period) => $"\"{Name}\";q={Limit};w={(long)period.TotalSeconds}";
}

internal static class RateLimitPolicyCompiler
{
    public static Dictionary<string, RateLimitPolicy> CompileAll(IReadOnlyDictionary<string, RateLimitPolicyDefinition> definitions) =>
        definitions.ToDictionary(d => d.Key, d => Compile(d.Key, d.Value), StringComparer.OrdinalIgnoreCase);

    public static RateLimitPolicy? ForRoute(RouteDefinition route, IReadOnlyDictionary<string, RateLimitPolicy> policies) =>
        route.RateLimit is { } name ? policies[name] : null;

    private static RateLimitPolicy Compile(string name, RateLimitPolicyDefinition definition)
    {
        var key = (definition.Key ?? ["client-ip"]).Select(part =>
        {
            Validation.RateLimitValidator.TryParseKeyPart(part, out var kind, out var partName);
            return new RateLimitKeyPart(kind switch
            {
                "consumer" => RateLimitKeyKind.Consumer,
                "claim" => RateLimitKeyKind.Claim,
                "header" => RateLimitKeyKind.Header,
                "route" => RateLimitKeyKind.Route,
                _ => RateLimitKeyKind.ClientIp,
            }, partName);
        }).ToList();
        var algorithm = definition.Algorithm!.Value;
        return new RateLimitPolicy(name, algorithm, definition.Limit!.Value,
            algorithm is RateLimitAlgorithm.Concurrency or RateLimitAlgorithm.Quota ? TimeSpan.Zero : definition.Window!.Value,
            algorithm == RateLimitAlgorithm.TokenBucket ? definition.Burst ?? 0 : 0, key, definition.Headers)
        {
            Scope = definition.Scope,
            OnStoreFailure = definition.OnStoreFailure,
            Nodes = definition.Nodes ?? 1,
            Period = definition.Period ?? QuotaPeriod.Day,
        };
    }
}
