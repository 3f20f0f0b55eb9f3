namespace Meshgate.Proxy.Caching.Stores.Redis;

/// <summary>
/// The Redis store's writes and purges, each one atomic round trip. An entry is a hash (one field per variant)
/// with a TTL. Indexes are sorted sets whose members are entry keys, scored by when the entry expires (Redis's own
/// clock, TIME): one per host (for prefix purges) and one per surrogate key. Every write trims the members that
/// expired from the indexes it touches and extends their TTL, so nothing in Redis outlives the entries it points at.
/// Purges read keys from the indexes, so the store needs one Redis server (not a cluster).
/// </summary>
internal static class RedisCacheScripts
{
    /// <summary>KEYS: entry, host index, surrogate-key indexes. ARGV: field, value, ttl (s). Only ever lengthens a TTL.</summary>
    public const string Set = """
        local ttl = tonumber(ARGV[3])
        local now = tonumber(redis.call('TIME')[1])
        local expiry = now + ttl
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
        for i = 2, #KEYS do
          redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. now)
          local old = tonumber(redis.call('ZSCORE', KEYS[i], KEYS[1]) or '0')
          if old < expiry then redis.call('ZADD', KEYS[i], expiry, KEYS[1]) end
          if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
        end
        return 1
        """;

    /// <summary>KEYS: entries. Deletes them; returns how many variants went.</summary>
    public const string PurgeKeys = """
        local n = 0
        for i = 1, #KEYS do
          n = n + redis.call('HLEN', KEYS[i])
          redis.call('DEL', KEYS[i])
        end
        return n
        """;

    /// <summary>KEYS: a surrogate-key index. Deletes every entry it names, and the index.</summary>
    public const string PurgeIndex = """
        local n = 0
        for _, key in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
          n = n + redis.call('HLEN', key)
          redis.call('DEL', key)
        end
        redis.call('DEL', KEYS[1])
        return n
        """;

    /// <summary>KEYS: a host index. ARGV: entry-key prefixes. Deletes the host's entries whose key starts with one of them.</summary>
    public const string PurgePrefix = """
        local n = 0
        for _, key in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
          for i = 1, #ARGV do
            if string.sub(key, 1, #ARGV[i]) == ARGV[i] then
              n = n + redis.call('HLEN', key)
              redis.call('DEL', key)
              redis.call('ZREM', KEYS[1], key)
              break
            end
          end
        end
        return n
        """;
}
