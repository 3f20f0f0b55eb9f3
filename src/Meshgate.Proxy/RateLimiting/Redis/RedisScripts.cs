namespace Meshgate.Proxy.RateLimiting.Redis;

/// <summary>
/// One Lua script per algorithm: each decision is one atomic round trip. Time is Redis's own (TIME), so
/// every node counts against the same clock; all times are microseconds. Each returns
/// { allowed (1/0), remaining, reset, retryAfter } and leaves only keys that expire.
/// ARGV: window (µs), limit, burst, dry ('1': decide without counting, for the admin API).
/// </summary>
internal static class RedisScripts
{
    private const string Now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local window = tonumber(ARGV[1])
        local limit = tonumber(ARGV[2])
        local dry = ARGV[4] == '1'
        """;

    /// <summary>GCRA: the key holds the theoretical arrival time; a bucket of limit + burst, refilled at limit per window.</summary>
    public const string TokenBucket = Now + """

        local emission = window / limit
        local tolerance = emission * (limit + tonumber(ARGV[3]))
        local tat = tonumber(redis.call('GET', KEYS[1]) or now)
        if tat < now then tat = now end
        local next = tat + emission
        if next - tolerance > now then
          return { 0, 0, math.ceil(tat - now), math.ceil(next - tolerance - now) }
        end
        if not dry then redis.call('SET', KEYS[1], string.format('%.3f', next), 'PX', math.ceil((next - now) / 1000) + 1000) end
        return { 1, math.floor((tolerance - (next - now)) / emission + 1e-9), math.ceil(next - now), 0 }
        """;

    /// <summary>Fixed window: INCR the window's counter, which expires after the window.</summary>
    public const string FixedWindow = Now + """

        local index = math.floor(now / window)
        local key = KEYS[1] .. ':' .. string.format('%.0f', index)
        local count
        if dry then count = tonumber(redis.call('GET', key) or '0') + 1 else count = redis.call('INCR', key) end
        if count == 1 and not dry then redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1000) end
        local reset = math.ceil((index + 1) * window - now)
        if count > limit then return { 0, 0, reset, reset } end
        return { 1, limit - count, reset, 0 }
        """;

    /// <summary>Sliding window counter: this window's count plus the previous one's, weighted by its overlap.</summary>
    public const string SlidingWindow = Now + """

        local index = math.floor(now / window)
        local current = KEYS[1] .. ':' .. string.format('%.0f', index)
        local previous = KEYS[1] .. ':' .. string.format('%.0f', index - 1)
        local before = tonumber(redis.call('GET', previous) or '0')
        local count = tonumber(redis.call('GET', current) or '0')
        local elapsed = now - index * window
        local estimate = before * (1 - elapsed / window) + count
        local reset = math.ceil(window - elapsed)
        if estimate + 1 <= limit + 1e-9 then
          if not dry then
            redis.call('INCR', current)
            redis.call('PEXPIRE', current, math.ceil(2 * window / 1000) + 1000)
          end
          return { 1, math.floor(limit - estimate - 1 + 1e-9), reset, 0 }
        end
        local room = limit - 1 - count
        local wait
        if before > 0 and room >= 0 then
          wait = window * (1 - room / before) - elapsed
        else
          wait = window - elapsed + window * math.max(0, 1 - (limit - 1) / math.max(count, 1))
        end
        return { 0, 0, reset, math.ceil(math.max(0, wait)) }
        """;
}
