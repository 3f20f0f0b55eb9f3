namespace Meshgate.Proxy.RateLimiting;

/// <summary>One limiter decision, with what the RateLimit headers report.</summary>
/// <param name="Remaining">Requests the key may still make now (the header's r).</param>
/// <param name="Reset">Until the key's quota is whole again (the header's t); zero for concurrency.</param>
/// <param name="RetryAfter">When denied: until a retry can succeed.</param>
internal readonly record struct RateLimitDecision(bool Allowed, long Remaining, TimeSpan Reset, TimeSpan RetryAfter);
