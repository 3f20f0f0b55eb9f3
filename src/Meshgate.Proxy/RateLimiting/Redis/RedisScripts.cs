namespace Meshgate.Proxy.RateLimiting.Redis;

/// <summary>
/// One Lua script per algorithm: each call is one atomic round trip. Time is Redis's own (TIME), so every node
/// counts against the same clock; all times are microseconds. Each returns
/// { allowed (1/0), remaining, reset, retryAfter, granted } and leaves only keys that expire.
/// ARGV: window (µs), limit, burst, dry ('1': decide without counting, for the admin API), lease (most permits
/// the caller will take at once; 1 = this request only).
/// <para>
/// A lease (see <see cref="RedisLeases"/>) is granted from what the key has left: at most 1/<see cref="RedisLeases.Divisor"/>
/// of it, never more than asked, and just the one permit when less than 2 × Divisor are left, so the grants shrink
/// to single permits as the key nears its limit.
/// </para>
/// </summary>
internal static class RedisScripts
{
    private const string Now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local window = tonumber(ARGV[1])
        local limit = tonumber(ARGV[2])
        local dry = ARGV[4] == '1'
        local function grant(available)
          local want = tonumber(ARGV[5])
          if dry or want <= 1 then return 1 end
          return math.max(1, math.min(want, math.floor(available / 
        """ + RedisLeases.DivisorText + """
        )))
        end
        """;

    /// <summary>GCRA: the key holds the theoretical arrival time; a bucket of limit + burst, refilled at limit per window.</summary>
    public const string TokenBucket = Now + """

        local emission = window / limit
        local tolerance = emission * (limit + tonumber(ARGV[3]))
        local tat = tonumber(redis.call('GET', KEYS[1]) or now)
        if tat < now then tat = now end
        if tat + emission - tolerance > now then
          return { 0, 0, math.ceil(tat - now), math.ceil(tat + emission - tolerance - now), 0 }
        end
        local available = math.floor((now + tolerance - tat) / emission + 1e-9)
        local granted = math.min(grant(available), available)
        local next = tat + granted * emission
        if not dry then redis.call('SET', KEYS[1], string.format('%.3f', next), 'PX', math.ceil((next - now) / 1000) + 1000) end
        return { 1, math.max(0, available - granted), math.ceil(next - now), 0, granted }
        """;

    /// <summary>Fixed window: the window's counter, which expires after the window; counts only what it allows.</summary>
    public const string FixedWindow = Now + """

        local index = math.floor(now / window)
        local key = KEYS[1] .. ':' .. string.format('%.0f', index)
        local before = tonumber(redis.call('GET', key) or '0')
        local reset = math.ceil((index + 1) * window - now)
        if before >= limit then return { 0, 0, reset, reset, 0 } end
        local granted = math.min(grant(limit - before), limit - before)
        if not dry then
          redis.call('INCRBY', key, granted)
          if before == 0 then redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1000) end
        end
        return { 1, limit - before - granted, reset, 0, granted }
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
          local available = math.floor(limit - estimate + 1e-9)
          local granted = math.min(grant(available), available)
          if not dry then
            redis.call('INCRBY', current, granted)
            redis.call('PEXPIRE', current, math.ceil(2 * window / 1000) + 1000)
          end
          return { 1, math.max(0, available - granted), reset, 0, granted }
        end
        local room = limit - 1 - count
        local wait
        if before > 0 and room >= 0 then
          wait = window * (1 - room / before) - elapsed
        else
          wait = window - elapsed + window * math.max(0, 1 - (limit - 1) / math.max(count, 1))
        end
        return { 0, 0, reset, math.ceil(math.max(0, wait)), 0 }
        """;

    /// <summary>
    /// Quota: one counter per calendar period; the key names the period (the node computes it, in UTC) and expires
    /// at ARGV[2] (Unix ms: shortly after the period ends). Counts only what it allows. ARGV: limit, expireAt, dry.
    /// Returns { allowed (1/0), used (after this request; dry: as if it came) }.
    /// </summary>
    public const string Quota = """
        local limit = tonumber(ARGV[1])
        local used = tonumber(redis.call('GET', KEYS[1]) or '0')
        if used >= limit then return { 0, used } end
        if ARGV[3] == '1' then return { 1, used + 1 } end
        used = redis.call('INCR', KEYS[1])
        if used == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
        return { 1, used }
        """;
}
