using Meshgate.Configuration.Compilation;

namespace Meshgate.Proxy.Caching;

/// <summary>A route's cache, as endpoint metadata: the compiled policy and its store, resolved when the endpoint is built.</summary>
internal sealed record RouteCache(string RouteId, CachePolicy Policy, ICacheStore Store);
