using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Compilation;

/// <summary>A compiled response-cache policy; one per name, shared by the routes that refer to it.</summary>
/// <param name="DefaultTtl">Freshness for responses that give none; null: RFC 9111's heuristic only.</param>
/// <param name="DropQuery">Query parameter names left out of the key.</param>
/// <param name="KeyHeaders">Request headers whose values are part of the key.</param>
/// <param name="KeepStale">Redis store: how long an entry outlives its freshness and stale windows there.</param>
/// <param name="Redis">The Redis server, for store: redis; null for memory.</param>
public sealed record CachePolicy(string Name, CacheStoreKind Store, long MaxEntryBytes, long MaxBytes, TimeSpan? DefaultTtl, bool StoreSetCookie,
    TimeSpan CoalesceTimeout, CacheQueryMode Query, IReadOnlySet<string> DropQuery, IReadOnlyList<string> KeyHeaders,
    TimeSpan KeepStale = default, RedisStoreDefinition? Redis = null);

internal static class CachePolicyCompiler
{
    public static Dictionary<string, CachePolicy> CompileAll(IReadOnlyDictionary<string, CachePolicyDefinition> definitions, RedisStoreDefinition? redis) =>
        definitions.ToDictionary(d => d.Key, d => Compile(d.Key, d.Value, redis), StringComparer.OrdinalIgnoreCase);

    public static CachePolicy? ForRoute(RouteDefinition route, IReadOnlyDictionary<string, CachePolicy> policies) =>
        route.Cache is { } name && policies.TryGetValue(name, out var policy) ? policy : null;

    private static CachePolicy Compile(string name, CachePolicyDefinition d, RedisStoreDefinition? redis) => new(
        name, d.Store, d.MaxEntryBytes.Bytes, d.MaxBytes.Bytes, d.DefaultTtl, d.StoreSetCookie, d.CoalesceTimeout,
        d.Key.Query, (d.Key.DropQuery ?? []).ToHashSet(StringComparer.Ordinal), d.Key.Headers ?? [],
        d.KeepStale, d.Store == CacheStoreKind.Redis ? redis : null);
}
