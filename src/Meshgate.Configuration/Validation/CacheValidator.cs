using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>The top-level caches policies, and the routes' references to them.</summary>
internal static class CacheValidator
{
    /// <summary>The route value that turns caching off; no policy may take the name.</summary>
    public const string Disable = "disable";

    public static void Validate(IReadOnlyDictionary<string, CachePolicyDefinition> policies, IReadOnlyList<RouteDefinition> routes, RedisStoreDefinition? redis, ValidationContext context)
    {
        foreach (var (name, policy) in policies)
        {
            var path = $"caches.{name}";
            if (string.Equals(name, Disable, StringComparison.OrdinalIgnoreCase))
            {
                context.Error(path, "the name 'disable' is reserved (a route's cache: disable turns caching off)");
            }
            ValidatePolicy(policy, path, context);
            if (policy.Store == CacheStoreKind.Redis && redis is null)
            {
                context.Error($"{path}.store", "store: redis needs a Redis store: add stores: { redis: { connection: host:port } }");
            }
        }

        for (var i = 0; i < routes.Count; i++)
        {
            if (routes[i].Cache is not { } name || string.Equals(name, Disable, StringComparison.OrdinalIgnoreCase) || policies.ContainsKey(name)) continue;
            context.UnknownReference($"routes[{i}].cache", "cache policy", name, policies.Keys.ToList(), "no caches are defined");
        }
    }

    private static void ValidatePolicy(CachePolicyDefinition policy, string path, ValidationContext context)
    {
        if (policy.MaxEntryBytes.Bytes <= 0) context.Error($"{path}.maxEntryBytes", "must be more than 0, e.g. 1MiB");
        if (policy.MaxBytes.Bytes <= 0) context.Error($"{path}.maxBytes", "must be more than 0, e.g. 64MiB");
        else if (policy.Store == CacheStoreKind.Memory && policy.MaxEntryBytes.Bytes > policy.MaxBytes.Bytes)
        {
            context.Error($"{path}.maxEntryBytes", $"{policy.MaxEntryBytes} is larger than maxBytes ({policy.MaxBytes}); no entry that size could be stored");
        }
        if (policy.DefaultTtl is { } ttl && ttl <= TimeSpan.Zero) context.Error($"{path}.defaultTtl", "must be positive, e.g. 30s (leave it out for no default)");
        if (policy.KeepStale < TimeSpan.Zero) context.Error($"{path}.keepStale", "must not be negative, e.g. 1m (0: Redis drops an entry as soon as its stale windows end)");
        if (policy.CoalesceTimeout <= TimeSpan.Zero) context.Error($"{path}.coalesceTimeout", "must be positive, e.g. 5s");
        if (policy.Key.DropQuery is { } drop)
        {
            if (policy.Key.Query == CacheQueryMode.Drop && drop.Count > 0)
            {
                context.Error($"{path}.key.dropQuery", "has no effect with query: drop (the whole query is left out); remove it or use query: keep or sort");
            }
            for (var i = 0; i < drop.Count; i++)
            {
                if (string.IsNullOrWhiteSpace(drop[i])) context.Error($"{path}.key.dropQuery[{i}]", "must be a query parameter name, not empty");
            }
        }
        if (policy.Key.Headers is { } headers)
        {
            for (var i = 0; i < headers.Count; i++)
            {
                if (!Common.HttpSyntax.IsToken(headers[i])) context.Error($"{path}.key.headers[{i}]", $"'{headers[i]}' is not a valid header name");
                else if (string.Equals(headers[i], "Authorization", StringComparison.OrdinalIgnoreCase) || string.Equals(headers[i], "Cookie", StringComparison.OrdinalIgnoreCase))
                {
                    // One entry per credential would fill the cache with per-user copies that the RFC's rules already keep out.
                    context.Error($"{path}.key.headers[{i}]", $"'{headers[i]}' cannot be part of the key: responses to credentialed requests are shared only when the upstream marks them public");
                }
            }
        }
    }
}
