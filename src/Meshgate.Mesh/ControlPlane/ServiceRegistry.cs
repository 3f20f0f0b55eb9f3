using System.Collections.Concurrent;

namespace Meshgate.Mesh.ControlPlane;

/// <summary>One registered instance and when its lease runs out.</summary>
public sealed record RegisteredInstance(
    string Service, string InstanceId, string Address, int Port, IReadOnlyDictionary<string, string> Labels, DateTimeOffset ExpiresAt);

/// <summary>
/// The in-memory registry: instances with leases. Time comes from the injected clock, so a test moves the clock past a
/// lease instead of sleeping. <see cref="Changed"/> fires on every change that a snapshot shows (not on heartbeats).
/// </summary>
public sealed class ServiceRegistry
{
    private readonly ConcurrentDictionary<string, RegisteredInstance> _instances = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public ServiceRegistry(TimeSpan ttl, TimeProvider time)
    {
        Ttl = ttl;
        _time = time;
    }

    public TimeSpan Ttl { get; }

    public event Action? Changed;

    public IReadOnlyList<RegisteredInstance> Instances => [.. _instances.Values.OrderBy(i => i.Service, StringComparer.Ordinal).ThenBy(i => i.InstanceId, StringComparer.Ordinal)];

    /// <summary>The first problem with a registration, as a message for the caller; null when it is fine.</summary>
    public static string? Validate(string service, string instanceId, string address, int port)
    {
        if (string.IsNullOrWhiteSpace(service)) return "service must not be empty";
        if (string.IsNullOrWhiteSpace(instanceId)) return "instance_id must not be empty";
        if (string.IsNullOrWhiteSpace(address)) return "address must not be empty";
        if (port is < 1 or > 65535) return $"port must be 1-65535, got {port}";
        return null;
    }

    public RegisteredInstance Register(string service, string instanceId, string address, int port, IReadOnlyDictionary<string, string> labels)
    {
        var instance = new RegisteredInstance(service, instanceId, address, port, new Dictionary<string, string>(labels, StringComparer.Ordinal), _time.GetUtcNow() + Ttl);
        _instances[instanceId] = instance;
        Changed?.Invoke();
        return instance;
    }

    /// <summary>Restores an instance from the state file with a fresh lease: its heartbeats could not reach a stopped control plane.</summary>
    public void Restore(RegisteredInstance instance)
    {
        _instances[instance.InstanceId] = instance with { ExpiresAt = _time.GetUtcNow() + Ttl };
        Changed?.Invoke();
    }

    /// <summary>
    /// Makes the registry hold exactly <paramref name="instances"/> (the etcd store's view after a full load), with one
    /// <see cref="Changed"/>. Their leases live in etcd; the times here are for display only.
    /// </summary>
    public void ReplaceAll(IEnumerable<RegisteredInstance> instances)
    {
        var wanted = instances.ToDictionary(i => i.InstanceId, StringComparer.Ordinal);
        foreach (var id in _instances.Keys)
        {
            if (!wanted.ContainsKey(id)) _instances.TryRemove(id, out _);
        }
        foreach (var (id, instance) in wanted) _instances[id] = instance;
        Changed?.Invoke();
    }

    /// <summary>Renews the lease; null when the instance is unknown or its lease already ran out.</summary>
    public RegisteredInstance? Heartbeat(string instanceId)
    {
        var now = _time.GetUtcNow();
        while (_instances.TryGetValue(instanceId, out var current))
        {
            if (current.ExpiresAt <= now)
            {
                ExpireDue();
                return null;
            }
            var renewed = current with { ExpiresAt = now + Ttl };
            if (_instances.TryUpdate(instanceId, renewed, current)) return renewed;
        }
        return null;
    }

    public bool Deregister(string instanceId)
    {
        if (!_instances.TryRemove(instanceId, out _)) return false;
        Changed?.Invoke();
        return true;
    }

    /// <summary>Drops every instance whose lease ran out; returns how many. Called by a periodic sweep.</summary>
    public int ExpireDue()
    {
        var now = _time.GetUtcNow();
        var removed = 0;
        foreach (var (id, instance) in _instances)
        {
            if (instance.ExpiresAt <= now && _instances.TryRemove(new KeyValuePair<string, RegisteredInstance>(id, instance))) removed++;
        }
        if (removed > 0) Changed?.Invoke();
        return removed;
    }
}
