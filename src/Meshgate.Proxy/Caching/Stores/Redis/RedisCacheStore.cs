using Meshgate.Configuration.Model;
using Meshgate.Proxy.Redis;
using StackExchange.Redis;

namespace Meshgate.Proxy.Caching.Stores.Redis;

/// <summary>
/// One policy's entries in Redis, shared by every gateway node, through the node's one multiplexed connection.
/// Keys: <c>meshgate:cache:{policy}:e:{METHOD} {url}</c> (a hash, one field per variant, with a TTL of the
/// entry's remaining freshness plus its stale windows plus keepStale), <c>...:host:{scheme://host}</c> and
/// <c>...:tag:{surrogate key}</c> (indexes, see <see cref="RedisCacheScripts"/>). Each call waits at most
/// stores.redis.timeout; a failure or a slow reply is an answer of "unavailable", never an exception.
/// </summary>
internal sealed class RedisCacheStore(string policy, RedisConnection connection, RedisCacheHealth health, TimeProvider time) : ICacheStore
{
    /// <summary>Longest TTL set, so an absurd max-age cannot overflow Redis's EXPIRE.</summary>
    private static readonly TimeSpan MaxTtl = TimeSpan.FromDays(3650);
    private const string NotConnected = "not connected";

    private readonly string _prefix = $"meshgate:cache:{policy}:";

    public string Name => policy;

    /// <summary>The server and timeout; a reload may change them.</summary>
    public required RedisStoreDefinition Redis { get; set; }

    public required TimeSpan KeepStale { get; set; }

    public async ValueTask<IReadOnlyList<CachedResponse>?> GetAsync(string key)
    {
        var redis = Redis;
        try
        {
            if (await DatabaseAsync(redis) is not { } database)
            {
                health.Failed(redis.Connection!, policy, "get", NotConnected);
                return null;
            }
            var fields = await database.HashGetAllAsync(EntryKey(key)).WaitAsync(redis.Timeout, time);
            health.Succeeded(redis.Connection!);
            if (fields.Length == 0) return [];
            var variants = new List<CachedResponse>(fields.Length);
            foreach (var field in fields)
            {
                if (RedisCacheEntryFormat.Read((byte[])field.Value!) is { } entry) variants.Add(entry);
            }
            return variants;
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            health.Failed(redis.Connection!, policy, "get", e.Message);
            return null;
        }
    }

    public async ValueTask<bool> SetAsync(string key, CachedResponse response)
    {
        var redis = Redis;
        var remaining = response.Lifetime - response.InitialAge;
        var staleWindow = Max(response.Directives.StaleWhileRevalidate ?? TimeSpan.Zero, response.Directives.StaleIfError ?? TimeSpan.Zero);
        var ttl = Max(remaining, TimeSpan.Zero) + staleWindow + KeepStale;
        var seconds = (long)Math.Ceiling(Math.Clamp(ttl.TotalSeconds, 1, MaxTtl.TotalSeconds));
        var entryKey = EntryKey(key);
        var keys = new RedisKey[2 + response.SurrogateKeys.Length];
        keys[0] = entryKey;
        keys[1] = HostIndex(CacheKey.UrlOf(key).ToString());
        for (var i = 0; i < response.SurrogateKeys.Length; i++) keys[2 + i] = TagIndex(response.SurrogateKeys[i]);
        try
        {
            if (await DatabaseAsync(redis) is not { } database)
            {
                health.Failed(redis.Connection!, policy, "set", NotConnected);
                return false;
            }
            await database.ScriptEvaluateAsync(RedisCacheScripts.Set, keys,
                [RedisCacheEntryFormat.Field(response), RedisCacheEntryFormat.Write(response), seconds]).WaitAsync(redis.Timeout, time);
            health.Succeeded(redis.Connection!);
            return true;
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            health.Failed(redis.Connection!, policy, "set", e.Message);
            return false;
        }
    }

    public async ValueTask RemoveAsync(string key)
    {
        var redis = Redis;
        try
        {
            if (await DatabaseAsync(redis) is not { } database)
            {
                health.Failed(redis.Connection!, policy, "delete", NotConnected);
                return;
            }
            await database.KeyDeleteAsync(EntryKey(key)).WaitAsync(redis.Timeout, time);
            health.Succeeded(redis.Connection!);
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            health.Failed(redis.Connection!, policy, "delete", e.Message);
        }
    }

    public ValueTask<int> PurgeUrlAsync(string url) =>
        PurgeAsync(RedisCacheScripts.PurgeKeys, [EntryKey("GET " + url), EntryKey("HEAD " + url)], []);

    /// <summary>One script over the host's index: its cost grows with the entries that host has in this policy.</summary>
    public ValueTask<int> PurgePrefixAsync(string prefix) =>
        PurgeAsync(RedisCacheScripts.PurgePrefix, [HostIndex(prefix)], [(string)EntryKey("GET " + prefix)!, (string)EntryKey("HEAD " + prefix)!]);

    public ValueTask<int> PurgeSurrogateKeyAsync(string surrogateKey) =>
        PurgeAsync(RedisCacheScripts.PurgeIndex, [TagIndex(surrogateKey)], []);

    private async ValueTask<int> PurgeAsync(string script, RedisKey[] keys, RedisValue[] values)
    {
        var redis = Redis;
        try
        {
            // A purge is an operator's request: it gets a longer wait than a request's lookup.
            var wait = Max(redis.Timeout, TimeSpan.FromSeconds(5));
            if (await DatabaseAsync(redis, wait) is not { } database)
            {
                health.Failed(redis.Connection!, policy, "purge", NotConnected);
                throw new CacheStoreUnavailableException($"Redis {redis.Connection} did not answer the purge: {NotConnected}");
            }
            var result = await database.ScriptEvaluateAsync(script, keys, values).WaitAsync(wait, time);
            health.Succeeded(redis.Connection!);
            return (int)result;
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            health.Failed(redis.Connection!, policy, "purge", e.Message);
            throw new CacheStoreUnavailableException($"Redis {redis.Connection} did not answer the purge: {e.Message}", e);
        }
    }

    /// <summary>The database, or null while the connection is down: then a request fails over at once, without an exception.</summary>
    private async ValueTask<IDatabase?> DatabaseAsync(RedisStoreDefinition redis, TimeSpan? wait = null)
    {
        var pending = connection.For(redis.Connection!);
        var multiplexer = pending.IsCompletedSuccessfully ? pending.Result : await pending.WaitAsync(wait ?? redis.Timeout, time);
        return multiplexer.IsConnected ? multiplexer.GetDatabase() : null;
    }

    private RedisKey EntryKey(string key) => _prefix + "e:" + key;

    private RedisKey TagIndex(string surrogateKey) => _prefix + "tag:" + surrogateKey;

    /// <summary>The index of a URL's host: scheme://host, up to the first slash after it (the whole text when there is none).</summary>
    private RedisKey HostIndex(string url)
    {
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        var slash = scheme < 0 ? -1 : url.IndexOf('/', scheme + 3);
        return _prefix + "host:" + (slash < 0 ? url : url[..slash]);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static bool IsStoreFailure(Exception e) => e is RedisException or TimeoutException or ObjectDisposedException or InvalidCastException;
}
