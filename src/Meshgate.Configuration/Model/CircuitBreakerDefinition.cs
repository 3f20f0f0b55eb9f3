using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>
/// Circuit breaking for one cluster: limits beyond which a request fails at once with 503 instead of
/// queueing inside Meshgate. Each limit is off when absent; give at least one.
/// </summary>
public sealed record CircuitBreakerDefinition
{
    [Description("Requests in flight to the cluster at once, over all endpoints and counting every attempt; one more fails at once with 503. Off when absent.")]
    public int? MaxConcurrentRequests { get; init; }

    [Description("Requests per endpoint that may wait for a connection while all maxConnectionsPerEndpoint connections are busy; one more fails at once with 503. Needs maxConnectionsPerEndpoint. Off when absent.")]
    public int? MaxPendingRequests { get; init; }

    [Description("Connections Meshgate opens to one endpoint at most; further requests wait for a free connection (see maxPendingRequests). Off (no limit) when absent.")]
    public int? MaxConnectionsPerEndpoint { get; init; }
}
