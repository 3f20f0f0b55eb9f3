using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>The top-level rateLimits and stores sections, and the routes' references to the policies.</summary>
internal static class RateLimitValidator
{
    private static readonly string[] ReservedNames = ["default", "disable"];

    public static void Validate(MeshgateDefinition definition, ValidationContext context)
    {
        foreach (var (name, policy) in definition.RateLimits)
        {
            var path = $"rateLimits.{name}";
            if (ReservedNames.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                context.Error(path, $"the name '{name}' is reserved; choose another");
            }
            ValidatePolicy(policy, definition.Stores.Redis, path, context);
        }
        ValidateRedis(definition.Stores.Redis, context);

        for (var i = 0; i < definition.Routes.Count; i++)
        {
            if (definition.Routes[i].RateLimit is not { } name || definition.RateLimits.ContainsKey(name)) continue;
            context.UnknownReference($"routes[{i}].rateLimit", "rate-limit policy", name, definition.RateLimits.Keys.ToList(), "no rateLimits are defined");
        }
    }

    private static void ValidatePolicy(RateLimitPolicyDefinition policy, RedisStoreDefinition? redis, string path, ValidationContext context)
    {
        if (policy.Limit is < 1) context.Error($"{path}.limit", $"must be at least 1 (found {policy.Limit})");

        var concurrency = policy.Algorithm == RateLimitAlgorithm.Concurrency;
        var quota = policy.Algorithm == RateLimitAlgorithm.Quota;
        if (concurrency && policy.Window is not null)
        {
            context.Error($"{path}.window", "concurrency counts requests in flight and has no window; remove window");
        }
        else if (quota && policy.Window is not null)
        {
            context.Error($"{path}.window", "a quota counts per calendar period; use period: day or period: month instead of window");
        }
        else if (!concurrency && !quota && policy.Algorithm is not null && policy.Window is null)
        {
            context.Error($"{path}.window", "required for this algorithm, e.g. window: 1s");
        }
        else if (policy.Window is { } window && window < TimeSpan.FromMilliseconds(1))
        {
            context.Error($"{path}.window", "must be at least 1ms");
        }

        if (quota && policy.Period is null)
        {
            context.Error($"{path}.period", "required for a quota: period: day or period: month (calendar periods in UTC)");
        }
        else if (!quota && policy.Algorithm is not null && policy.Period is not null)
        {
            context.Error($"{path}.period", "only a quota has a period; remove it or use algorithm: quota");
        }

        if (policy.Burst is { } burst)
        {
            if (policy.Algorithm is not null and not RateLimitAlgorithm.TokenBucket) context.Error($"{path}.burst", "only token-bucket has a burst; remove it or use algorithm: token-bucket");
            else if (burst < 0) context.Error($"{path}.burst", "must not be negative");
        }

        if (policy.Key is { } key) ValidateKey(key, $"{path}.key", context);

        if (policy.Scope == RateLimitScope.Shared)
        {
            if (redis is null) context.Error($"{path}.scope", "scope: shared needs a Redis store: add stores: { redis: { connection: host:port } }");
            if (concurrency) context.Error($"{path}.scope", "concurrency is counted on each node; use scope: local");
        }
        else if (policy.OnStoreFailure != StoreFailureMode.Allow)
        {
            context.Error($"{path}.onStoreFailure", "only applies to scope: shared");
        }
        if (policy.Nodes is { } nodes)
        {
            if (policy.OnStoreFailure != StoreFailureMode.Local) context.Error($"{path}.nodes", "only applies with onStoreFailure: local");
            else if (nodes < 1) context.Error($"{path}.nodes", "must be at least 1");
        }
    }

    /// <summary>The key parts a policy may combine; claim: and header: take a name.</summary>
    public static bool TryParseKeyPart(string part, out string kind, out string name)
    {
        var colon = part.IndexOf(':', StringComparison.Ordinal);
        kind = (colon < 0 ? part : part[..colon]).ToLowerInvariant();
        name = colon < 0 ? "" : part[(colon + 1)..];
        return kind switch
        {
            "client-ip" or "consumer" or "route" => colon < 0,
            "claim" => name.Length > 0,
            "header" => Common.HttpSyntax.IsToken(name),
            _ => false,
        };
    }

    private static void ValidateKey(List<string> key, string path, ValidationContext context)
    {
        if (key.Count == 0) context.Error(path, "must name at least one key part, e.g. key: client-ip");
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < key.Count; i++)
        {
            if (!TryParseKeyPart(key[i], out _, out _))
            {
                context.Error($"{path}[{i}]", $"'{key[i]}' is not a key: use client-ip, consumer, route, claim:NAME or header:NAME");
            }
            else if (!seen.Add(key[i]))
            {
                context.Error($"{path}[{i}]", $"'{key[i]}' is listed twice");
            }
        }
    }

    private static void ValidateRedis(RedisStoreDefinition? redis, ValidationContext context)
    {
        if (redis is null) return;
        if (redis.Connection is { } connection && !IsHostPort(connection))
        {
            context.Error("stores.redis.connection", $"'{connection}' is not host:port, e.g. 127.0.0.1:6379");
        }
        if (redis.Timeout <= TimeSpan.Zero) context.Error("stores.redis.timeout", "must be positive, e.g. 50ms");
    }

    private static bool IsHostPort(string text)
    {
        var colon = text.LastIndexOf(':');
        return colon > 0
            && int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
            && port is > 0 and <= 65535
            && Uri.CheckHostName(text[..colon].Trim('[', ']')) != UriHostNameType.Unknown;
    }
}
