using Meshgate.Mesh.V1;

namespace Meshgate.Mesh.ControlPlane;

/// <summary>
/// Where the control plane keeps registrations and policies. The embedded store (<see cref="EmbeddedMeshStore"/>: memory,
/// optionally saved to a state file) serves one control plane; the etcd store (<see cref="EtcdMeshStore"/>) lets several
/// replicas serve one mesh. Either way the store keeps <see cref="ServiceRegistry"/> and the hub's policies current,
/// and the hub builds snapshots from those.
/// </summary>
public interface IMeshStore : IAsyncDisposable
{
    /// <summary>How long an instance stays registered without a heartbeat.</summary>
    TimeSpan Ttl { get; }

    /// <summary>Why the store cannot serve writes now (e.g. etcd unreachable), or null when it can.</summary>
    string? NotReadyReason { get; }

    /// <summary>Loads what is stored; the control plane serves no snapshot before this finished.</summary>
    /// <exception cref="MeshStoreUnavailableException">The store cannot be reached.</exception>
    Task StartAsync(CancellationToken cancellationToken);

    /// <exception cref="MeshStoreUnavailableException">The store cannot be reached.</exception>
    Task<RegisteredInstance> RegisterAsync(string service, string instanceId, string address, int port, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    /// <summary>Renews the instance's lease; null when it is unknown or its lease ran out.</summary>
    /// <exception cref="MeshStoreUnavailableException">The store cannot be reached.</exception>
    Task<RegisteredInstance?> HeartbeatAsync(string instanceId, CancellationToken cancellationToken);

    /// <exception cref="MeshStoreUnavailableException">The store cannot be reached.</exception>
    Task<bool> DeregisterAsync(string instanceId, CancellationToken cancellationToken);

    /// <exception cref="MeshStoreUnavailableException">The store cannot be reached.</exception>
    Task SetPoliciesAsync(MeshPolicies policies, CancellationToken cancellationToken);
}

/// <summary>The store cannot be reached; the message says which store and why (gRPC callers get Unavailable with it).</summary>
public sealed class MeshStoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The single control plane's store: the in-memory registry (leases swept by the server) and the hub's policies.</summary>
public sealed class EmbeddedMeshStore(ServiceRegistry registry, SnapshotHub hub) : IMeshStore
{
    public TimeSpan Ttl => registry.Ttl;

    public string? NotReadyReason => null;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<RegisteredInstance> RegisterAsync(string service, string instanceId, string address, int port, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        Task.FromResult(registry.Register(service, instanceId, address, port, labels));

    public Task<RegisteredInstance?> HeartbeatAsync(string instanceId, CancellationToken cancellationToken) => Task.FromResult(registry.Heartbeat(instanceId));

    public Task<bool> DeregisterAsync(string instanceId, CancellationToken cancellationToken) => Task.FromResult(registry.Deregister(instanceId));

    public Task SetPoliciesAsync(MeshPolicies policies, CancellationToken cancellationToken)
    {
        hub.SetPolicies(policies);
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
