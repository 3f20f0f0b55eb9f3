using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.RateLimiting.Local;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>Endpoint metadata: the route's policy and the limiter that counts for it, found once when the endpoint is built.</summary>
internal sealed record RouteRateLimit(string RouteId, RateLimitPolicy Policy, LocalRateLimiter Limiter);
