using System.Diagnostics.Metrics;
using Meshgate.Common;
using Meshgate.Configuration.Validation;
using Microsoft.Extensions.Logging;

namespace Meshgate.Configuration.Sources.Etcd;

/// <summary>
/// Keeps a gateway node on the config in etcd: watches the prefix, reads the whole config on every change and hands it
/// to the reload path (parse, validate, compile, swap), which rejects an invalid state whole and keeps the last good
/// config. When etcd cannot be reached the node keeps serving, says why it is not in sync, and reads everything again
/// once etcd answers (a watch is not resumed: a compacted revision, or changes made meanwhile, are then right too).
/// </summary>
public sealed partial class EtcdConfigSync : IConfigSourceStatus, IAsyncDisposable
{
    private readonly EtcdConfigStore _store;
    private readonly TimeProvider _time;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private readonly TimeSpan _retryInterval;
    private readonly CancellationTokenSource _stop = new();
    private Func<string, Task>? _reload;
    private Task _loop = Task.CompletedTask;
    private Task _canaryLoop = Task.CompletedTask;
    private volatile EtcdConfigState _latest;
    private volatile string? _notSynced;
    private long _lastSyncTicks;

    /// <param name="initial">The state the node started from (read by the command before the first load).</param>
    /// <param name="nodeId">This node's id in config canaries; a new random one when null.</param>
    /// <param name="canaryInterval">How often the node reports to and reads canaries in etcd (1 s when null).</param>
    public EtcdConfigSync(EtcdConfigStore store, EtcdConfigState initial, TimeProvider? time = null, TimeSpan? retryInterval = null, string? nodeId = null, TimeSpan? canaryInterval = null)
    {
        _store = store;
        _latest = initial;
        _time = time ?? TimeProvider.System;
        _retryInterval = retryInterval ?? TimeSpan.FromMilliseconds(500);
        _lastSyncTicks = _time.GetUtcNow().UtcTicks;
        Canary = new Canary.CanaryNode(new Canary.EtcdCanaryStore(store), nodeId ?? Etcd.Canary.CanaryNode.NewNodeId(), canaryInterval ?? TimeSpan.FromSeconds(1), _time);
    }

    /// <summary>This node's part in config canaries (`config push --canary`).</summary>
    public Canary.CanaryNode Canary { get; }

    public EtcdConfigStore Store => _store;
    public string Source => _store.Name;
    public string? NotSyncedReason => _notSynced;
    public DateTimeOffset LastSyncAt => new(Interlocked.Read(ref _lastSyncTicks), TimeSpan.Zero);
    public TimeSpan Stale => _notSynced is null ? TimeSpan.Zero : _time.GetUtcNow() - LastSyncAt;

    /// <summary>
    /// The config as last read from etcd, for the reload path (which runs it through validation and compilation); on a
    /// canary node while a canary runs, the candidate instead.
    /// </summary>
    public ConfigLoader.Result Load() => Canary.Load() ?? Load(_latest, _store);

    public static ConfigLoader.Result Load(EtcdConfigState state, EtcdConfigStore store)
    {
        var assembled = state.Assembled;
        if (assembled.Empty) return new ConfigLoader.Result(null, [new ConfigError("", $"{store.Name} holds no config (no key under the prefix); write one with `meshgate config push`") { File = store.Name }]);
        if (assembled.Errors.Count > 0) return new ConfigLoader.Result(null, assembled.Errors);
        return ConfigLoader.Load(assembled.Config.Yaml, store.Name, store.BaseDirectory);
    }

    /// <summary>
    /// Gets the host's logger, and adds meshgate.config.stale.seconds: 0 while in sync, else seconds since the node
    /// last had etcd's state. Called by the host that owns this sync, before <see cref="Start"/>.
    /// </summary>
    public void Attach(ILogger logger, IMeterFactory meterFactory)
    {
        _logger = logger;
        var meter = meterFactory.Create(MeshgateMeter.Name);
        meter.CreateObservableGauge("meshgate.config.stale.seconds", () => Stale.TotalSeconds, "s",
            "Seconds since this node last knew it had the config source's current state (0 while it watches etcd).");
    }

    /// <summary>Starts the watch; <paramref name="reload"/> is the gateway's reload (it calls <see cref="Load"/>).</summary>
    public void Start(Func<string, Task> reload)
    {
        _reload = reload;
        _loop = Task.Run(RunAsync);
        _canaryLoop = Task.Run(() => Canary.RunAsync(CanaryResyncAsync, _stop.Token));
    }

    private async Task RunAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await _store.WatchAsync(_latest.EtcdRevision + 1, Watching, () => PullAsync("etcd change", token), token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (!token.IsCancellationRequested)
            {
                // An outage is an IOException; anything else is reported and retried the same way, so the loop never ends
                // while the node runs (it once did, on a TaskCanceledException the gRPC client threw, and the node said
                // it was in sync for good).
                Lost(e is IOException ? e.Message : $"{e.GetType().Name}: {e.Message}");
            }
            while (!token.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(_retryInterval, _time, token);
                    await PullAsync("etcd resync", token);
                    break;
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (!token.IsCancellationRequested)
                {
                    _notSynced = e is IOException ? e.Message : $"{e.GetType().Name}: {e.Message}";
                }
            }
        }
    }

    private Task Watching()
    {
        Synced();
        return Task.CompletedTask;
    }

    private async Task PullAsync(string trigger, CancellationToken token)
    {
        _latest = await _store.ReadStateAsync(token);
        await _reload!(trigger);
        Synced();
    }

    /// <summary>A canary began or ended for this node: read etcd again and reload, or (etcd out of reach) reload what was last read.</summary>
    private async Task CanaryResyncAsync(string trigger)
    {
        try
        {
            await PullAsync(trigger, _stop.Token);
        }
        catch (IOException)
        {
            await _reload!(trigger);
        }
    }

    private void Synced()
    {
        Interlocked.Exchange(ref _lastSyncTicks, _time.GetUtcNow().UtcTicks);
        if (_notSynced is not null)
        {
            _notSynced = null;
            LogResynced(_logger, _store.Name, _latest.EtcdRevision);
        }
    }

    private void Lost(string reason)
    {
        if (_notSynced is null) LogLost(_logger, reason);
        _notSynced = reason;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }
        try
        {
            await _canaryLoop;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
        _store.Dispose();
    }

    [LoggerMessage(EventId = EventIds.EtcdConfig + 1, Level = LogLevel.Warning, Message = "Config source lost: {Reason}; the running config keeps serving until etcd answers again")]
    private static partial void LogLost(ILogger logger, string reason);

    [LoggerMessage(EventId = EventIds.EtcdConfig + 2, Level = LogLevel.Information, Message = "Config source {Source} in sync again at etcd revision {Revision}")]
    private static partial void LogResynced(ILogger logger, string source, long revision);
}
