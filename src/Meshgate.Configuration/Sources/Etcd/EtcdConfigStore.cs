using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Meshgate.Configuration.Parsing;

namespace Meshgate.Configuration.Sources.Etcd;

/// <summary>What one read of the prefix found, at which etcd revision.</summary>
public sealed record EtcdConfigState(AssembledConfig Assembled, long EtcdRevision);

/// <summary>
/// The gateway config in etcd, one key per object (see <see cref="EtcdConfigLayout"/>). The revision is the hash of
/// the assembled text, as for the file store, so it equals the version of the snapshot compiled from it. A write is
/// one etcd transaction: it applies only if no key under the prefix changed since the read that matched the
/// writer's revision (each key read still has its modification revision, and nothing under the prefix is newer), and
/// then deletes, creates and changes keys at once, so a watcher sees the old config or the new one, never a mix.
/// </summary>
public sealed class EtcdConfigStore : IConfigStore, IDisposable
{
    private readonly EtcdClient _client;
    private readonly TimeSpan _callTimeout;

    /// <param name="endpoints">The members' client endpoints, host:port.</param>
    /// <param name="prefix">Absolute and ending with '/': every key of this config starts with it.</param>
    /// <param name="baseDirectory">Where relative paths in the config (certificates, token files) are resolved.</param>
    public EtcdConfigStore(IReadOnlyList<string> endpoints, string prefix, string baseDirectory, TimeSpan? callTimeout = null)
    {
        Prefix = prefix;
        BaseDirectory = baseDirectory;
        _callTimeout = callTimeout ?? TimeSpan.FromSeconds(3);
        Display = "etcd://" + string.Join(",", endpoints);
        // As the control plane's etcd store: no built-in retries (an outage is reported and retried on the sync's
        // schedule), round robin over the members, keep-alive pings to notice a silent partition within seconds.
        _client = new EtcdClient(string.Join(",", endpoints.Select(e => "http://" + e)), configureChannelOptions: channel =>
        {
            channel.ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } };
            channel.HttpHandler = new SocketsHttpHandler
            {
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                ConnectTimeout = _callTimeout,
            };
        });
    }

    public const string DefaultPrefix = "/meshgate/config/";

    public string Prefix { get; }

    /// <summary>etcd://host:port,... for messages.</summary>
    public string Display { get; }

    public string Name => Display + Prefix;
    public string BaseDirectory { get; }
    public bool Persistent => true;

    internal DateTime Deadline() => DateTime.UtcNow + _callTimeout;

    /// <summary>The connection, for the canary's keys beside the config's (<see cref="Canary.EtcdCanaryStore"/>).</summary>
    internal EtcdClient Client => _client;

    private (ByteString Key, ByteString RangeEnd) PrefixRange()
    {
        var start = System.Text.Encoding.UTF8.GetBytes(Prefix);
        var end = (byte[])start.Clone();
        end[^1]++;
        return (ByteString.CopyFrom(start), ByteString.CopyFrom(end));
    }

    /// <summary>An RPC failure as the IOException the admin API (503) and the commands report.</summary>
    internal ConfigStoreUnavailableException Unavailable(RpcException e) => new($"etcd at {Display}", $"{e.Status.StatusCode}: {e.Status.Detail}", e);

    public async Task<StoredConfig> ReadAsync(CancellationToken cancellationToken = default) => (await ReadStateAsync(cancellationToken)).Assembled.Config;

    public async Task<EtcdConfigState> ReadStateAsync(CancellationToken cancellationToken = default)
    {
        var (state, _) = await ReadKeysAsync(cancellationToken);
        return state;
    }

    private async Task<(EtcdConfigState State, IReadOnlyList<Mvccpb.KeyValue> Kvs)> ReadKeysAsync(CancellationToken cancellationToken)
    {
        var (key, rangeEnd) = PrefixRange();
        RangeResponse all;
        try
        {
            all = await _client.GetConnection().KVClient.RangeAsync(new RangeRequest { Key = key, RangeEnd = rangeEnd }, deadline: Deadline(), cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw Unavailable(e);
        }
        var keys = all.Kvs.Select(kv => KeyValuePair.Create(kv.Key.ToStringUtf8()[Prefix.Length..], kv.Value.ToStringUtf8())).ToList();
        return (new EtcdConfigState(EtcdConfigLayout.Assemble(keys, Name), all.Header.Revision), all.Kvs);
    }

    /// <summary>Writes <paramref name="yaml"/> (a config the caller validated) as keys; what a read returns afterwards is the assembled text, whose revision is in the result.</summary>
    public Task<ConfigStoreWrite> WriteAsync(string yaml, string expectedRevision, CancellationToken cancellationToken = default) =>
        WriteAsync(yaml, expectedRevision, [], cancellationToken);

    /// <summary>As <see cref="WriteAsync(string, string, CancellationToken)"/>, and in the same transaction <paramref name="alsoDo"/> (on keys outside the prefix: a promoted canary's plan and decision).</summary>
    internal async Task<ConfigStoreWrite> WriteAsync(string yaml, string expectedRevision, IReadOnlyList<RequestOp> alsoDo, CancellationToken cancellationToken)
    {
        var (keys, written) = Stored(yaml);

        var (current, kvs) = await ReadKeysAsync(cancellationToken);
        if (current.Assembled.Config.Revision != expectedRevision) return new ConfigStoreWrite(false, current.Assembled.Config);

        var (prefixKey, rangeEnd) = PrefixRange();
        var transaction = new TxnRequest();
        // Nothing under the prefix was created or changed after the read ...
        transaction.Compare.Add(new Compare
        {
            Key = prefixKey,
            RangeEnd = rangeEnd,
            Target = Compare.Types.CompareTarget.Mod,
            Result = Compare.Types.CompareResult.Less,
            ModRevision = current.EtcdRevision + 1,
        });
        // ... and nothing read was deleted since (a deleted key's modification revision is 0).
        foreach (var kv in kvs)
        {
            transaction.Compare.Add(new Compare { Key = kv.Key, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = kv.ModRevision });
        }
        var old = kvs.ToDictionary(kv => kv.Key.ToStringUtf8()[Prefix.Length..], kv => kv.Value.ToStringUtf8(), StringComparer.Ordinal);
        foreach (var name in old.Keys.Where(k => !keys.ContainsKey(k)))
        {
            transaction.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(Prefix + name) } });
        }
        foreach (var (name, value) in keys.Where(k => !old.TryGetValue(k.Key, out var was) || was != k.Value))
        {
            transaction.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(Prefix + name), Value = ByteString.CopyFromUtf8(value) } });
        }

        transaction.Success.AddRange(alsoDo);

        TxnResponse response;
        try
        {
            response = await _client.GetConnection().KVClient.TxnAsync(transaction, deadline: Deadline(), cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw Unavailable(e);
        }
        if (!response.Succeeded) return new ConfigStoreWrite(false, (await ReadStateAsync(cancellationToken)).Assembled.Config);
        return new ConfigStoreWrite(true, written);
    }

    /// <summary>The text and revision <paramref name="yaml"/> (a config the caller validated) has once written: what every node then reads.</summary>
    public StoredConfig AsStored(string yaml) => Stored(yaml).Config;

    private (SortedDictionary<string, string> Keys, StoredConfig Config) Stored(string yaml)
    {
        var read = ConfigReader.Read(yaml, Name);
        if (read.Definition is not { } definition) throw new ArgumentException("the config to write is invalid: " + string.Join("; ", read.Errors), nameof(yaml));
        var keys = EtcdConfigLayout.Split(definition);
        return (keys, EtcdConfigLayout.Assemble(keys.ToList(), Name).Config);
    }

    /// <summary>
    /// Watches the prefix from <paramref name="fromRevision"/> and calls <paramref name="changed"/> once per batch of
    /// events (a transaction's events arrive together) and <paramref name="watching"/> once etcd confirmed the watch.
    /// Returns never on its own: an outage or a compaction is an <see cref="IOException"/>.
    /// </summary>
    public async Task WatchAsync(long fromRevision, Func<Task> watching, Func<Task> changed, CancellationToken cancellationToken)
    {
        var (key, rangeEnd) = PrefixRange();
        // Until etcd says the watch is created, the call timeout bounds it, as it bounds every other call; once created,
        // the watch runs as long as the sync does (keep-alive pings notice a dead connection).
        using var setup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        setup.CancelAfter(_callTimeout);
        try
        {
            using var call = _client.GetConnection().WatchClient.Watch(cancellationToken: setup.Token);
            await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = key, RangeEnd = rangeEnd, StartRevision = fromRevision } }, setup.Token);
            while (await call.ResponseStream.MoveNext(setup.Token))
            {
                var response = call.ResponseStream.Current;
                if (response.Canceled)
                {
                    throw new IOException(response.CompactRevision > 0
                        ? $"the watch of {Name} fell behind compaction (revision {response.CompactRevision})"
                        : $"the watch of {Name} was cancelled: {response.CancelReason}");
                }
                if (response.Created)
                {
                    setup.CancelAfter(Timeout.InfiniteTimeSpan);
                    await watching();
                }
                if (response.Events.Count > 0) await changed();
            }
        }
        // A cancellation that is not the caller's is an outage too: the setup deadline, or the gRPC client's own when the
        // call fails as it starts (etcd going away then made the request stream's first write throw
        // TaskCanceledException, which used to escape as no IOException and end the sync's loop for good).
        catch (Exception e) when (e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled } && !cancellationToken.IsCancellationRequested)
        {
            throw new ConfigStoreUnavailableException($"etcd at {Display}", setup.IsCancellationRequested
                ? $"the watch was not created within {_callTimeout.TotalSeconds:0.#} s"
                : "the watch call was cancelled as it started (etcd went away)", e);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled || !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable(e);
        }
        cancellationToken.ThrowIfCancellationRequested();
        throw new IOException($"etcd at {Display} ended the watch stream");
    }

    public void Dispose() => _client.Dispose();
}
