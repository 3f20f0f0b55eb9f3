using Meshgate.Configuration;
using Meshgate.Configuration.Validation;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Pipeline;

/// <summary>What the admin API reports about config loading.</summary>
public sealed record ConfigStatus(
    string Version,
    DateTimeOffset LoadedAt,
    int Generation,
    DateTimeOffset? LastAttemptAt,
    string? LastTrigger,
    IReadOnlyList<ConfigError> LastErrors,
    IReadOnlyList<string> RestartRequired);

/// <summary>One load or reload attempt, for the admin API's recent history.</summary>
/// <param name="Applied">True when a new snapshot was published; false for a rejected file or an unchanged one.</param>
/// <param name="Version">The version serving after the attempt.</param>
public sealed record ReloadAttempt(DateTimeOffset At, string Trigger, bool Applied, string Version, IReadOnlyList<ConfigError> Errors);

/// <summary>
/// Reloads from the config file: parse, validate, compile, swap. One reload at a time; an invalid
/// file is rejected whole and the running snapshot keeps serving.
/// </summary>
public sealed partial class ConfigReloader
{
    private readonly SnapshotAccessor _snapshots;
    private readonly Func<ConfigLoader.Result> _load;
    private readonly ILogger _logger;
    private readonly ConfigReloadMetrics? _metrics;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile ConfigStatus _status;

    /// <summary>The most recent attempts, newest last; bounded so a flapping file watch cannot grow it.</summary>
    public const int HistoryLength = 20;
    private readonly Queue<ReloadAttempt> _history = new();

    /// <param name="meterFactory">For the reload counters; null counts nothing.</param>
    public ConfigReloader(SnapshotAccessor snapshots, Func<ConfigLoader.Result> load, ILogger<ConfigReloader> logger, System.Diagnostics.Metrics.IMeterFactory? meterFactory = null)
    {
        _snapshots = snapshots;
        _load = load;
        _logger = logger;
        var current = snapshots.Current;
        if (meterFactory is not null) _metrics = new ConfigReloadMetrics(meterFactory, current.LoadedAt);
        _status = new ConfigStatus(current.Version, current.LoadedAt, 1, null, "start", [], []);
        _history.Enqueue(new ReloadAttempt(current.LoadedAt, "start", true, current.Version, []));
    }

    /// <summary>The last <see cref="HistoryLength"/> attempts (the start included while it fits), oldest first.</summary>
    public IReadOnlyList<ReloadAttempt> History
    {
        get
        {
            lock (_history) return [.. _history];
        }
    }

    private ConfigStatus Remember(ConfigStatus status, bool applied)
    {
        lock (_history)
        {
            if (_history.Count == HistoryLength) _history.Dequeue();
            _history.Enqueue(new ReloadAttempt(status.LastAttemptAt ?? status.LoadedAt, status.LastTrigger ?? "", applied, status.Version, status.LastErrors));
        }
        return status;
    }

    public ConfigStatus Status => _status;

    /// <summary>Called after a snapshot is published, e.g. to apply the new log level.</summary>
    public event Action<ConfigSnapshot>? Applied;

    public async Task<ConfigStatus> ReloadAsync(string trigger, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var now = DateTimeOffset.UtcNow;
            var result = _load();
            var previous = _status;
            if (result.Snapshot is not { } snapshot)
            {
                LogRejected(_logger, trigger, result.Errors.Count, string.Join("; ", result.Errors));
                _metrics?.Failed();
                return _status = Remember(previous with { LastAttemptAt = now, LastTrigger = trigger, LastErrors = result.Errors }, applied: false);
            }
            return Apply(snapshot, trigger, now);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Runs a change that is not a reload of the source (an admin API write) under the reload lock, so no reload or
    /// other change interleaves between reading the running snapshot and publishing the next. <paramref name="change"/>
    /// gets the running snapshot and returns the next one to publish (already validated and compiled), or null to
    /// change nothing, with its outcome for the caller.
    /// </summary>
    public async Task<T> ChangeAsync<T>(string trigger, Func<ConfigSnapshot, CancellationToken, Task<(ConfigSnapshot? Next, T Outcome)>> change, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var (next, outcome) = await change(_snapshots.Current, cancellationToken);
            if (next is not null) Apply(next, trigger, DateTimeOffset.UtcNow);
            return outcome;
        }
        finally
        {
            _gate.Release();
        }
    }

    private ConfigStatus Apply(ConfigSnapshot snapshot, string trigger, DateTimeOffset now)
    {
        var previous = _status;
        var current = _snapshots.Current;
        var restart = RestartRequired(current.Definition, snapshot.Definition);
        _metrics?.Succeeded(now);
        // The exporter and the activity listener are made once, at start (sampling and responseHeader follow reloads).
        if (current.Tracing is null ? snapshot.Tracing is not null : current.Tracing.ExporterDiffers(snapshot.Tracing)) restart.Add("tracing");
        if (snapshot.Version == current.Version)
        {
            return _status = Remember(previous with { LastAttemptAt = now, LastTrigger = trigger, LastErrors = [] }, applied: false);
        }
        _snapshots.Publish(snapshot);
        Applied?.Invoke(snapshot);
        LogApplied(_logger, trigger, snapshot.Version, snapshot.Routes.Count, snapshot.Clusters.Count);
        foreach (var section in restart) LogRestartRequired(_logger, section);
        return _status = Remember(new ConfigStatus(snapshot.Version, snapshot.LoadedAt, previous.Generation + 1, now, trigger, [], restart), applied: true);
    }

    /// <summary>Sections the running process cannot change in place: their sockets and host settings are fixed at start.</summary>
    private static List<string> RestartRequired(Configuration.Model.MeshgateDefinition running, Configuration.Model.MeshgateDefinition next)
    {
        var sections = new List<string>();
        if (!running.Listeners.SequenceEqual(next.Listeners, ListenerComparer.Instance)) sections.Add("listeners");
        if (running.Admin.Address != next.Admin.Address) sections.Add("admin.address");
        if (running.Logging.Format != next.Logging.Format) sections.Add("logging.format");
        if (running.Shutdown != next.Shutdown) sections.Add("shutdown");
        // The control-plane watch and the workload identity are made once, at start.
        if (running.Mesh != next.Mesh) sections.Add("mesh");
        // The meter provider and its listeners are made once, at start.
        if (running.Metrics != next.Metrics) sections.Add("metrics");
        // The queue is made once, at start, with the size the first config gave (or the default).
        if ((running.AccessLog?.Queue ?? Observability.AccessLog.AccessLogQueue.DefaultCapacity) != (next.AccessLog?.Queue ?? Observability.AccessLog.AccessLogQueue.DefaultCapacity)) sections.Add("accessLog.queue");
        return sections;
    }

    private sealed class ListenerComparer : IEqualityComparer<Configuration.Model.ListenerDefinition>
    {
        public static readonly ListenerComparer Instance = new();

        public bool Equals(Configuration.Model.ListenerDefinition? x, Configuration.Model.ListenerDefinition? y) =>
            System.Text.Json.Nodes.JsonNode.DeepEquals(Configuration.Model.DefinitionJson.ToStoredJson(x), Configuration.Model.DefinitionJson.ToStoredJson(y));

        public int GetHashCode(Configuration.Model.ListenerDefinition obj) => 0;
    }

    [LoggerMessage(EventId = Common.EventIds.Configuration + 1, Level = LogLevel.Information, Message = "Config reloaded ({Trigger}): version {Version}, {Routes} routes, {Clusters} clusters")]
    private static partial void LogApplied(ILogger logger, string trigger, string version, int routes, int clusters);

    [LoggerMessage(EventId = Common.EventIds.Configuration + 2, Level = LogLevel.Error, Message = "Config reload ({Trigger}) rejected with {Count} errors; the running config keeps serving: {Errors}")]
    private static partial void LogRejected(ILogger logger, string trigger, int count, string errors);

    [LoggerMessage(EventId = Common.EventIds.Configuration + 3, Level = LogLevel.Warning, Message = "Config change in '{Section}' takes effect only after a restart")]
    private static partial void LogRestartRequired(ILogger logger, string section);
}
