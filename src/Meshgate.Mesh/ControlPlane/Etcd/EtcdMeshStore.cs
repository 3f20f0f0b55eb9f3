using System.Text.Json;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Meshgate.Mesh.V1;
using Microsoft.Extensions.Logging;
using EventType = Mvccpb.Event.Types.EventType;

namespace Meshgate.Mesh.ControlPlane.Etcd;

/// <summary>
/// Registrations and policies in etcd, so several control-plane replicas serve one mesh. Under the prefix:
/// <c>instances/&lt;instance id&gt;</c> holds one registered instance (JSON), attached to an etcd lease whose TTL is the
/// registry TTL: a heartbeat through any replica renews that lease, and when heartbeats stop etcd deletes the key, so
/// no replica (alive or dead) keeps an instance alive. <c>policies</c> holds the mesh policies (protobuf JSON).
/// <para>
/// Every replica loads the prefix, then watches it from the next revision and mirrors each change into its
/// <see cref="ServiceRegistry"/> and the hub's policies; the hub stamps snapshots with etcd's revision, which only goes
/// up, across replicas and restarts. When etcd cannot be reached the replica keeps serving its last snapshot, reports
/// not ready, fails writes with <see cref="MeshStoreUnavailableException"/>, and reloads everything once etcd answers.
/// </para>
/// </summary>
public sealed class EtcdMeshStore : IMeshStore
{
    private const string InstancesFolder = "instances/";
    private const string PoliciesKey = "policies";

    private readonly EtcdStoreOptions _options;
    private readonly ServiceRegistry _registry;
    private readonly SnapshotHub _hub;
    private readonly MeshPolicies? _initialPolicies;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly EtcdClient _client;
    private readonly CancellationTokenSource _stop = new();
    private Task _watchLoop = Task.CompletedTask;
    private long _revision;
    private volatile string? _notReady = "the etcd store has not been loaded yet";
    private int _disposed;

    /// <param name="initialPolicies">The policies file's content, written to etcd at start (null keeps what etcd holds).</param>
    public EtcdMeshStore(EtcdStoreOptions options, ServiceRegistry registry, SnapshotHub hub, MeshPolicies? initialPolicies, TimeProvider time, ILogger logger)
    {
        _options = options;
        _registry = registry;
        _hub = hub;
        _initialPolicies = initialPolicies;
        _time = time;
        _logger = logger;
        // Calls fail at once instead of dotnet-etcd's default retries on Unavailable: the store reports the outage and
        // retries on its own schedule; a registration fails fast so the caller can try another replica.
        _client = new EtcdClient(string.Join(",", options.Endpoints.Select(e => "http://" + e)), configureChannelOptions: channel =>
        {
            channel.ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } };
            channel.HttpHandler = new SocketsHttpHandler
            {
                // Notice a silent network partition within seconds, not the default 30 s.
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                ConnectTimeout = options.CallTimeout,
            };
        });
    }

    public TimeSpan Ttl => _registry.Ttl;

    public string? NotReadyReason => _notReady;

    /// <summary>The etcd revision the registry and policies reflect; the hub's snapshot version.</summary>
    public long Revision => Volatile.Read(ref _revision);

    private string Prefix => _options.Prefix;

    private ByteString InstanceKey(string instanceId) => ByteString.CopyFromUtf8(Prefix + InstancesFolder + instanceId);

    private DateTime Deadline() => DateTime.UtcNow + _options.CallTimeout;

    private string Unreachable(RpcException e) => $"etcd at {_options.Display} is unavailable: {e.Status.StatusCode}: {e.Status.Detail}";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (_initialPolicies is not null) await PutPoliciesAsync(_initialPolicies, cancellationToken);
            var revision = await LoadAsync(cancellationToken);
            EtcdStoreLog.Loaded(_logger, _registry.Instances.Count, _options.Display, Prefix, revision);
            _watchLoop = Task.Run(() => WatchLoopAsync(revision));
        }
        catch (RpcException e)
        {
            throw new MeshStoreUnavailableException($"cannot load the mesh from etcd at {_options.Display} (prefix {Prefix}): {e.Status.StatusCode}: {e.Status.Detail}", e);
        }
    }

    public async Task<RegisteredInstance> RegisterAsync(string service, string instanceId, string address, int port, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        var stored = new StoredInstance(service, instanceId, address, port, new Dictionary<string, string>(labels, StringComparer.Ordinal));
        var kv = _client.GetConnection().KVClient;
        var leases = _client.GetConnection().LeaseClient;
        try
        {
            var ttlSeconds = (long)Math.Ceiling(Ttl.TotalSeconds);
            var lease = await leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttlSeconds }, deadline: Deadline(), cancellationToken: cancellationToken);
            await kv.PutAsync(new PutRequest
            {
                Key = InstanceKey(instanceId),
                Value = ByteString.CopyFromUtf8(JsonSerializer.Serialize(stored, MeshJsonContext.Default.StoredInstance)),
                Lease = lease.ID,
            }, deadline: Deadline(), cancellationToken: cancellationToken);
            // The instance's earlier lease (a re-registration) is left to run out: the key is no longer attached to it.
            return stored.ToInstance(_time.GetUtcNow() + TimeSpan.FromSeconds(lease.TTL));
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw new MeshStoreUnavailableException($"cannot register '{instanceId}': {Unreachable(e)}", e);
        }
    }

    public async Task<RegisteredInstance?> HeartbeatAsync(string instanceId, CancellationToken cancellationToken)
    {
        try
        {
            var found = await _client.GetConnection().KVClient.RangeAsync(new RangeRequest { Key = InstanceKey(instanceId) }, deadline: Deadline(), cancellationToken: cancellationToken);
            if (found.Kvs.Count == 0 || Parse(found.Kvs[0]) is not { } stored) return null;
            // Any replica may renew: the lease lives in etcd, not in the replica that granted it.
            using var call = _client.GetConnection().LeaseClient.LeaseKeepAlive(deadline: Deadline(), cancellationToken: cancellationToken);
            await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = found.Kvs[0].Lease }, cancellationToken);
            if (!await call.ResponseStream.MoveNext(cancellationToken)) throw new RpcException(new Status(StatusCode.Unavailable, "the keep-alive stream ended without an answer"));
            var ttl = call.ResponseStream.Current.TTL;
            await call.RequestStream.CompleteAsync();
            return ttl <= 0 ? null : stored.ToInstance(_time.GetUtcNow() + TimeSpan.FromSeconds(ttl));
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw new MeshStoreUnavailableException($"cannot renew the lease of '{instanceId}': {Unreachable(e)}", e);
        }
    }

    public async Task<bool> DeregisterAsync(string instanceId, CancellationToken cancellationToken)
    {
        try
        {
            var deleted = await _client.GetConnection().KVClient.DeleteRangeAsync(new DeleteRangeRequest { Key = InstanceKey(instanceId), PrevKv = true }, deadline: Deadline(), cancellationToken: cancellationToken);
            if (deleted.Deleted == 0) return false;
            try
            {
                await _client.GetConnection().LeaseClient.LeaseRevokeAsync(new LeaseRevokeRequest { ID = deleted.PrevKvs[0].Lease }, deadline: Deadline(), cancellationToken: cancellationToken);
            }
            catch (RpcException)
            {
                // The key is gone, which is what counts; an unrevoked lease just runs out.
            }
            return true;
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw new MeshStoreUnavailableException($"cannot deregister '{instanceId}': {Unreachable(e)}", e);
        }
    }

    public async Task SetPoliciesAsync(MeshPolicies policies, CancellationToken cancellationToken)
    {
        try
        {
            await PutPoliciesAsync(policies, cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw new MeshStoreUnavailableException($"cannot write the policies: {Unreachable(e)}", e);
        }
    }

    private async Task PutPoliciesAsync(MeshPolicies policies, CancellationToken cancellationToken)
    {
        // The hub takes the policies from the watch, like every other replica, so all of them apply the same revision.
        await _client.GetConnection().KVClient.PutAsync(new PutRequest
        {
            Key = ByteString.CopyFromUtf8(Prefix + PoliciesKey),
            Value = ByteString.CopyFromUtf8(JsonFormatter.Default.Format(policies)),
        }, deadline: Deadline(), cancellationToken: cancellationToken);
        EtcdStoreLog.PoliciesWritten(_logger, _options.Display, policies.Services.Count);
    }

    /// <summary>Reads the whole prefix into the registry and the hub; returns the revision it reflects.</summary>
    private async Task<long> LoadAsync(CancellationToken cancellationToken)
    {
        var (key, rangeEnd) = PrefixRange();
        var all = await _client.GetConnection().KVClient.RangeAsync(new RangeRequest { Key = key, RangeEnd = rangeEnd }, deadline: Deadline(), cancellationToken: cancellationToken);
        var instances = new List<RegisteredInstance>();
        var policies = new MeshPolicies();
        foreach (var kv in all.Kvs)
        {
            if (kv.Key.ToStringUtf8() == Prefix + PoliciesKey) policies = ParsePolicies(kv) ?? policies;
            else if (Parse(kv) is { } stored) instances.Add(stored.ToInstance(_time.GetUtcNow() + Ttl));
        }
        _registry.ReplaceAll(instances);
        _hub.SetPolicies(policies);
        Publish(all.Header.Revision);
        return all.Header.Revision;
    }

    /// <summary>
    /// Changes are applied first, then the revision is raised, then the hub is told: a snapshot built after it read a
    /// revision holds at least that revision's content, and the last change always gets its own round.
    /// </summary>
    private void Publish(long revision)
    {
        Volatile.Write(ref _revision, revision);
        _notReady = null;
        _hub.Invalidate();
    }

    private async Task WatchLoopAsync(long loadedRevision)
    {
        var from = loadedRevision + 1;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await WatchAsync(from);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException)
            {
                // Not ours: the gRPC client's own, when the watch call fails as it starts (etcd going away then makes the
                // request stream's first write throw TaskCanceledException). An outage like the others; it used to end
                // this loop for good, and the replica then missed every later change.
                _notReady = $"etcd at {_options.Display}: the watch call was cancelled as it started (etcd went away)";
                EtcdStoreLog.Lost(_logger, _notReady);
            }
            catch (RpcException e)
            {
                if (_stop.IsCancellationRequested) return;
                _notReady = Unreachable(e);
                EtcdStoreLog.Lost(_logger, _notReady);
            }
            catch (ResyncNeededException e)
            {
                _notReady = $"etcd at {_options.Display}: {e.Message}; reloading";
                EtcdStoreLog.Lost(_logger, _notReady);
            }
            // Reload everything rather than resume: keys that expired or changed during the outage are then right,
            // and a watch never starts from a revision etcd already compacted away.
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(_options.RetryInterval, _time, _stop.Token);
                    from = await LoadAsync(_stop.Token) + 1;
                    EtcdStoreLog.Resynced(_logger, _options.Display, from - 1);
                    break;
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                catch (OperationCanceledException)
                {
                    _notReady = $"etcd at {_options.Display}: a call was cancelled by the gRPC client (etcd went away)";
                }
                catch (RpcException e)
                {
                    _notReady = Unreachable(e);
                }
            }
        }
    }

    private async Task WatchAsync(long from)
    {
        var (key, rangeEnd) = PrefixRange();
        using var call = _client.GetConnection().WatchClient.Watch(cancellationToken: _stop.Token);
        await call.RequestStream.WriteAsync(new Etcdserverpb.WatchRequest { CreateRequest = new WatchCreateRequest { Key = key, RangeEnd = rangeEnd, StartRevision = from } }, _stop.Token);
        while (await call.ResponseStream.MoveNext(_stop.Token))
        {
            var response = call.ResponseStream.Current;
            if (response.Canceled)
            {
                throw new ResyncNeededException(response.CompactRevision > 0
                    ? $"the watch fell behind compaction (revision {response.CompactRevision})"
                    : $"the watch was cancelled: {response.CancelReason}");
            }
            if (response.Events.Count == 0) continue; // the 'created' answer, or a progress notice
            foreach (var change in response.Events) Apply(change);
            Publish(response.Header.Revision);
        }
        throw new RpcException(new Status(StatusCode.Unavailable, "the watch stream ended"));
    }

    private void Apply(Mvccpb.Event change)
    {
        var name = change.Kv.Key.ToStringUtf8();
        if (name == Prefix + PoliciesKey)
        {
            _hub.SetPolicies(change.Type == EventType.Delete ? new MeshPolicies() : ParsePolicies(change.Kv) ?? _hub.Policies);
            return;
        }
        if (!name.StartsWith(Prefix + InstancesFolder, StringComparison.Ordinal)) return;
        if (change.Type == EventType.Delete) _registry.Deregister(name[(Prefix.Length + InstancesFolder.Length)..]);
        else if (Parse(change.Kv) is { } stored) _registry.Restore(stored.ToInstance(default));
    }

    private StoredInstance? Parse(Mvccpb.KeyValue kv)
    {
        var name = kv.Key.ToStringUtf8();
        if (!name.StartsWith(Prefix + InstancesFolder, StringComparison.Ordinal)) return null;
        try
        {
            var stored = JsonSerializer.Deserialize(kv.Value.Span, MeshJsonContext.Default.StoredInstance);
            if (stored is null || ServiceRegistry.Validate(stored.Service, stored.InstanceId, stored.Address, stored.Port) is { } problem)
            {
                EtcdStoreLog.BadKey(_logger, name, "not a registered instance");
                return null;
            }
            return stored;
        }
        catch (JsonException e)
        {
            EtcdStoreLog.BadKey(_logger, name, e.Message);
            return null;
        }
    }

    private MeshPolicies? ParsePolicies(Mvccpb.KeyValue kv)
    {
        try
        {
            return MeshPolicies.Parser.ParseJson(kv.Value.ToStringUtf8());
        }
        catch (InvalidProtocolBufferException e)
        {
            EtcdStoreLog.BadKey(_logger, kv.Key.ToStringUtf8(), $"the policies cannot be read, the previous ones stay: {e.Message}");
            return null;
        }
    }

    /// <summary>The key range of everything under the prefix: [prefix, prefix with its last byte + 1).</summary>
    private (ByteString Key, ByteString RangeEnd) PrefixRange()
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(Prefix);
        var end = (byte[])bytes.Clone();
        end[^1]++; // the prefix ends with '/', never 0xFF
        return (ByteString.CopyFrom(bytes), ByteString.CopyFrom(end));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync();
        try
        {
            await _watchLoop;
        }
        catch (OperationCanceledException)
        {
        }
        catch (RpcException)
        {
        }
        _client.Dispose();
        _stop.Dispose();
    }

    internal sealed record StoredInstance(string Service, string InstanceId, string Address, int Port, Dictionary<string, string>? Labels)
    {
        public RegisteredInstance ToInstance(DateTimeOffset expiresAt) =>
            new(Service, InstanceId, Address, Port, Labels ?? new Dictionary<string, string>(StringComparer.Ordinal), expiresAt);
    }

    private sealed class ResyncNeededException(string message) : Exception(message);
}
