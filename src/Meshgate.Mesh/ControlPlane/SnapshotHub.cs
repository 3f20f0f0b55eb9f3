using System.Collections.Concurrent;
using System.Threading.Channels;
using Meshgate.Mesh.V1;

namespace Meshgate.Mesh.ControlPlane;

/// <summary>What the control plane knows about one watching proxy (shown by GET /admin/proxies).</summary>
public sealed class ProxyStatus(string proxyId)
{
    public string ProxyId { get; } = proxyId;
    public string Kind { get; set; } = "";
    public bool Connected { get; set; }
    public long VersionSent { get; set; }
    public long VersionAcked { get; set; }
    public long LastNackVersion { get; set; }
    public string? LastNackReason { get; set; }
}

/// <summary>
/// Makes a new versioned snapshot when the registry or the policies change and pushes it to every watcher. Changes are
/// coalesced: a burst of registrations inside <c>coalesce</c> becomes one version. Each watcher holds only the newest
/// snapshot it has not yet sent, so a slow proxy skips versions instead of queueing them.
/// </summary>
public sealed class SnapshotHub : IAsyncDisposable
{
    private readonly ServiceRegistry _registry;
    private readonly TimeSpan _coalesce;
    private readonly Func<long>? _storeRevision;
    private readonly Channel<bool> _changes = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly ConcurrentDictionary<Channel<MeshSnapshot>, byte> _watchers = new();
    private readonly ConcurrentDictionary<string, ProxyStatus> _proxies = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private MeshPolicies _policies;
    private MeshSnapshot _current;
    private int _disposed;

    /// <param name="storeRevision">
    /// The shared store's revision (etcd's), which becomes the version, so replicas of the control plane number the same
    /// content alike and versions only go up across replicas and restarts; null counts up from <paramref name="firstVersion"/>.
    /// </param>
    public SnapshotHub(ServiceRegistry registry, MeshPolicies policies, long firstVersion, TimeSpan coalesce, Func<long>? storeRevision = null)
    {
        _registry = registry;
        _policies = policies;
        _coalesce = coalesce;
        _storeRevision = storeRevision;
        _current = Build(firstVersion);
        _registry.Changed += Invalidate;
        _loop = Task.Run(RunAsync);
    }

    public MeshSnapshot Current => Volatile.Read(ref _current);

    public MeshPolicies Policies => Volatile.Read(ref _policies);

    public IReadOnlyList<ProxyStatus> Proxies => [.. _proxies.Values.OrderBy(p => p.ProxyId, StringComparer.Ordinal)];

    /// <summary>Raised after each new version, on the hub's loop (the state file is written from here).</summary>
    public event Action<MeshSnapshot>? Published;

    public void SetPolicies(MeshPolicies policies)
    {
        Volatile.Write(ref _policies, policies);
        Invalidate();
    }

    public void Invalidate() => _changes.Writer.TryWrite(true);

    /// <summary>Streams the current snapshot, then each new one, until the token is cancelled.</summary>
    public async Task WatchAsync(string proxyId, string kind, Func<MeshSnapshot, Task> send, CancellationToken cancellationToken)
    {
        var status = _proxies.GetOrAdd(proxyId, id => new ProxyStatus(id));
        lock (status)
        {
            status.Kind = kind;
            status.Connected = true;
        }
        var channel = Channel.CreateBounded<MeshSnapshot>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest });
        _watchers[channel] = 0;
        try
        {
            channel.Writer.TryWrite(Current); // after registering, so a version made in between is not missed
            long lastSent = 0;
            await foreach (var snapshot in channel.Reader.ReadAllAsync(cancellationToken))
            {
                if (snapshot.Version <= lastSent) continue;
                await send(snapshot);
                lastSent = snapshot.Version;
                lock (status) status.VersionSent = snapshot.Version;
            }
        }
        finally
        {
            _watchers.TryRemove(channel, out _);
            lock (status) status.Connected = false;
        }
    }

    /// <summary>Records an ACK or a NACK; a NACK leaves the proxy's acked version where it was.</summary>
    public void Ack(string proxyId, long version, bool accepted, string? error)
    {
        var status = _proxies.GetOrAdd(proxyId, id => new ProxyStatus(id));
        lock (status)
        {
            if (accepted) status.VersionAcked = Math.Max(status.VersionAcked, version);
            else
            {
                status.LastNackVersion = version;
                status.LastNackReason = string.IsNullOrWhiteSpace(error) ? "(no reason given)" : error;
            }
        }
    }

    private async Task RunAsync()
    {
        try
        {
            while (await _changes.Reader.WaitToReadAsync(_stop.Token))
            {
                if (_coalesce > TimeSpan.Zero) await Task.Delay(_coalesce, _stop.Token);
                _changes.Reader.TryRead(out _);
                var current = Current;
                MeshSnapshot snapshot;
                if (_storeRevision is null) snapshot = Build(current.Version + 1);
                else
                {
                    // The revision is read before the content is, so the content is at least that revision's. A round
                    // that finds nothing new publishes nothing (a resync after an outage, or an early wake-up).
                    var revision = _storeRevision();
                    snapshot = Build(current.Version);
                    if (current.Version > 0 && snapshot.Equals(current)) continue;
                    // Past the last version even if the store's revision went back (etcd's data replaced).
                    snapshot.Version = Math.Max(revision, current.Version + 1);
                }
                Volatile.Write(ref _current, snapshot);
                foreach (var watcher in _watchers.Keys) watcher.Writer.TryWrite(snapshot);
                Published?.Invoke(snapshot);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private MeshSnapshot Build(long version)
    {
        var snapshot = new MeshSnapshot { Version = version, Policies = Policies.Clone() };
        foreach (var group in _registry.Instances.GroupBy(i => i.Service, StringComparer.Ordinal))
        {
            var service = new MeshService { Name = group.Key };
            foreach (var i in group)
            {
                var instance = new ServiceInstance { InstanceId = i.InstanceId, Address = i.Address, Port = i.Port };
                foreach (var (key, value) in i.Labels) instance.Labels[key] = value;
                service.Instances.Add(instance);
            }
            snapshot.Services.Add(service);
        }
        return snapshot;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _registry.Changed -= Invalidate;
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
