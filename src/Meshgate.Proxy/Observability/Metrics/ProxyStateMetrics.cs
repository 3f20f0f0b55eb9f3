using System.Diagnostics.Metrics;
using Meshgate.Common;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Resilience.CircuitBreaking;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Observability.Metrics;

/// <summary>
/// Gauges read from YARP's state and the circuit breakers when a scrape asks, never on the request path:
/// each endpoint's health and each cluster's concurrent requests against its limit.
/// </summary>
internal sealed class ProxyStateMetrics
{
    private static readonly string[] HealthStates = ["healthy", "unhealthy", "unknown"];

    private readonly IProxyStateLookup _proxyState;
    private readonly ICircuitBreakerState _circuitBreakers;
    private readonly SnapshotAccessor _snapshots;

    public ProxyStateMetrics(IMeterFactory meterFactory, IProxyStateLookup proxyState, ICircuitBreakerState circuitBreakers, SnapshotAccessor snapshots)
    {
        _proxyState = proxyState;
        _circuitBreakers = circuitBreakers;
        _snapshots = snapshots;
        var meter = meterFactory.Create(MeshgateMeter.Name);
        meter.CreateObservableGauge("meshgate.endpoint.health", EndpointHealth, "{endpoint}",
            "1 for the state each endpoint is in (healthy, unhealthy, unknown), 0 for the other two, by cluster and endpoint: YARP's active and passive (outlier detection) health. unknown: not checked.");
        meter.CreateObservableGauge("meshgate.circuit_breaking.active_requests", ActiveRequests, "{request}",
            "Requests of the cluster in flight, counted for clusters with circuitBreaker.maxConcurrentRequests.");
        meter.CreateObservableGauge("meshgate.circuit_breaking.open", Open, "1",
            "1 while a cluster's in-flight requests are at its circuitBreaker.maxConcurrentRequests (new ones are refused with 503), else 0.");
    }

    /// <summary>healthy, unhealthy or unknown, as the admin API and the load balancer see it.</summary>
    internal static string HealthOf(DestinationState destination) => (destination.Health.Active, destination.Health.Passive) switch
    {
        (DestinationHealth.Unhealthy, _) or (_, DestinationHealth.Unhealthy) => "unhealthy",
        (DestinationHealth.Healthy, _) or (_, DestinationHealth.Healthy) => "healthy",
        _ => "unknown",
    };

    private IEnumerable<Measurement<int>> EndpointHealth()
    {
        foreach (var cluster in _proxyState.GetClusters())
        {
            foreach (var destination in cluster.Destinations.Values)
            {
                var state = HealthOf(destination);
                var endpoint = destination.Model.Config.Address;
                foreach (var candidate in HealthStates)
                {
                    yield return new Measurement<int>(candidate == state ? 1 : 0,
                        new("cluster", cluster.ClusterId), new("endpoint", endpoint), new("state", candidate));
                }
            }
        }
    }

    private IEnumerable<Measurement<int>> ActiveRequests()
    {
        foreach (var (clusterId, limit) in Limited())
        {
            yield return new Measurement<int>(_circuitBreakers.DescribeCircuit(clusterId)?.ActiveRequests ?? 0, new KeyValuePair<string, object?>("cluster", clusterId));
        }
    }

    private IEnumerable<Measurement<int>> Open()
    {
        foreach (var (clusterId, limit) in Limited())
        {
            var active = _circuitBreakers.DescribeCircuit(clusterId)?.ActiveRequests ?? 0;
            yield return new Measurement<int>(active >= limit ? 1 : 0, new KeyValuePair<string, object?>("cluster", clusterId));
        }
    }

    private IEnumerable<(string Cluster, int Limit)> Limited()
    {
        foreach (var (clusterId, policy) in _snapshots.Current.ClusterPolicies)
        {
            if (policy.CircuitBreaker?.MaxConcurrentRequests is int limit) yield return (clusterId, limit);
        }
    }
}
