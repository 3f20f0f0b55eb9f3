using Meshgate.Common;
using Microsoft.Extensions.Logging;

namespace Meshgate.Configuration.Sources.Etcd.Canary;

/// <summary>Counts this node's requests for a canary; the gateway's live statistics implement it.</summary>
public interface ICanaryFigureSource
{
    /// <summary>Starts counting from zero (the node took a role in a canary).</summary>
    void Restart();

    /// <summary>Stops counting (no canary).</summary>
    void Stop();

    CanaryFigures Read();

    /// <summary>The 99th percentile of a histogram in the same buckets, in milliseconds; null when it is empty.</summary>
    double? P99(long[] histogram);
}

/// <summary>The canary as this node sees it, for GET /admin/canary.</summary>
/// <param name="Role">"canary", "baseline", or null without a running canary.</param>
public sealed record CanaryNodeView(string Node, string? Role, CanaryPlan? Plan, CanaryFigures? Figures, string? LastError);

/// <summary>
/// A gateway node's part in config canaries. Every interval it renews its report under <c>nodes/&lt;id&gt;</c> (held
/// by its own lease, so a stopped node drops out) and reads the plan: a node the plan names runs the candidate (its
/// config sync then loads the candidate instead of the config in etcd), the others stay on the config in etcd; both
/// count their requests from then on. When the plan goes (promoted, rolled back, or its command's lease ran out) or
/// its deadline passes, the node reads etcd again and runs the config there. A node that cannot reach etcd keeps its
/// role until the deadline, then returns to the config it last read.
/// </summary>
public sealed partial class CanaryNode
{
    private readonly EtcdCanaryStore _store;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private ICanaryFigureSource? _figures;
    private Func<string> _runningRevision = () => "";
    private volatile CanaryPlan? _plan;
    private volatile string? _role;
    private volatile string? _lastError;
    private long _lease;
    private CanaryNodeReport? _published;

    public CanaryNode(EtcdCanaryStore store, string nodeId, TimeSpan interval, TimeProvider time)
    {
        _store = store;
        NodeId = nodeId;
        _interval = interval;
        _time = time;
    }

    public string NodeId { get; }

    public EtcdCanaryStore Store => _store;

    /// <summary>A node id when none is given: the host name and a random part (several nodes may share a host, or a pid).</summary>
    public static string NewNodeId() => $"{Environment.MachineName}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}";

    public void Attach(ILogger logger, ICanaryFigureSource figures, Func<string> runningRevision)
    {
        _logger = logger;
        _figures = figures;
        _runningRevision = runningRevision;
    }

    public CanaryNodeView View() => new(NodeId, _role, _plan, _plan is null ? null : _figures?.Read(), _lastError);

    /// <summary>The candidate, validated and compiled, while this node is one of the canary's; otherwise null (the config in etcd applies).</summary>
    public ConfigLoader.Result? Load() =>
        _role == CanaryJudge.CanaryRole && _plan is { } plan ? ConfigLoader.Load(plan.Candidate, $"canary {plan.Id} candidate", _store.Config.BaseDirectory) : null;

    /// <summary>Runs until <paramref name="token"/> is cancelled; <paramref name="resync"/> reads the config in etcd again and reloads.</summary>
    public async Task RunAsync(Func<string, Task> resync, CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            try
            {
                await TickAsync(resync, token);
                _lastError = null;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (IOException e)
            {
                _lastError = e.Message;
                _lease = 0;
                _published = null;
                // etcd out of reach: the deadline still holds.
                if (_plan is { } plan && _time.GetUtcNow() >= plan.Deadline) await TakeRoleAsync(null, resync, $"deadline {plan.Deadline:O} passed while etcd was out of reach", token);
            }
            try
            {
                await Task.Delay(_interval, _time, token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        // A stopping node leaves at once rather than when its lease runs out.
        if (Interlocked.Exchange(ref _lease, 0) is var lease and not 0)
        {
            try
            {
                using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _store.RevokeLeaseAsync(lease, quick.Token);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
            }
        }
    }

    private async Task TickAsync(Func<string, Task> resync, CancellationToken token)
    {
        if (_lease == 0)
        {
            _lease = await _store.GrantLeaseAsync(_interval * 3 + TimeSpan.FromSeconds(1), token);
            _published = null;
        }
        var (plan, modRevision) = await _store.ReadPlanAsync(token);
        var now = _time.GetUtcNow();
        if (plan is not null && now >= plan.Deadline)
        {
            var reports = await _store.ReadNodesAsync(token);
            var (canary, baseline) = CanaryJudge.Groups(plan.Id, reports, _figures is { } f ? f.P99 : _ => null);
            var reason = $"deadline {plan.Deadline:O} passed without a decision (the pushing command stopped)";
            if (await _store.RollBackAsync(modRevision, Decision(plan, reason, canary, baseline), token)) LogDeadline(_logger, plan.Id, reason);
            plan = null;
        }
        await TakeRoleAsync(plan, resync, null, token);

        var current = _plan;
        var report = new CanaryNodeReport(NodeId, current?.Id, _role, _runningRevision(), current is not null && _figures is not null ? _figures.Read() : CanaryFigures.Empty(0), now);
        // Outside a canary the report only changes with the running revision: the lease's renewal keeps it, and etcd
        // sees no write every second from every node.
        var first = _published is null;
        if (first || current is not null || report.Revision != _published!.Revision || report.Canary != _published.Canary)
        {
            await _store.PublishAsync(report, _lease, token);
            _published = report;
        }
        if (!first && !await _store.KeepAliveAsync(_lease, token))
        {
            _lease = 0;
            _published = null;
        }
    }

    private async Task TakeRoleAsync(CanaryPlan? plan, Func<string, Task> resync, string? why, CancellationToken token)
    {
        var role = plan is null ? null : plan.Nodes.Contains(NodeId) ? CanaryJudge.CanaryRole : CanaryJudge.BaselineRole;
        var previous = _plan;
        if (plan?.Id == previous?.Id && role == _role) return;
        var wasCanary = _role == CanaryJudge.CanaryRole;
        _plan = plan;
        _role = role;
        if (plan is not null)
        {
            if (previous is not null && previous.Id != plan.Id) await EndedAsync(previous, null, token);
            // The candidate is applied (or refused) first, so the canary's figures are the candidate's only.
            if (role == CanaryJudge.CanaryRole) await resync($"canary {plan.Id}");
            _figures?.Restart();
            LogRole(_logger, plan.Id, role!, role == CanaryJudge.CanaryRole ? plan.CandidateRevision : _runningRevision());
            return;
        }
        _figures?.Stop();
        // Read etcd again before leaving the candidate: a promotion changed the config in the same transaction that
        // removed the plan, so the node goes from the candidate to the candidate, never back to the old config.
        if (wasCanary || why is not null) await resync($"canary {previous!.Id} ended");
        await EndedAsync(previous!, why, token);
    }

    private async Task EndedAsync(CanaryPlan plan, string? why, CancellationToken token)
    {
        CanaryReading? decision = null;
        if (why is null)
        {
            try
            {
                decision = await _store.ReadReadingAsync(_store.DecisionKey, token);
            }
            catch (IOException)
            {
            }
        }
        if (decision is not null && decision.Id == plan.Id)
        {
            LogDecision(_logger, plan.Id, decision.Outcome, decision.Reason ?? "", CanaryJudge.Figures(decision.Canary, decision.Baseline));
            return;
        }
        why ??= "its plan disappeared without a decision (the pushing command stopped and its lease ran out)";
        LogAbandoned(_logger, plan.Id, why);
        if (decision is null || decision.Id != plan.Id)
        {
            var empty = new CanaryGroup(0, 0, 0, 0, null);
            try
            {
                await _store.WriteDecisionAsync(Decision(plan, "rolled back: " + why, empty, empty), token);
            }
            catch (IOException)
            {
            }
        }
    }

    private CanaryReading Decision(CanaryPlan plan, string reason, CanaryGroup canary, CanaryGroup baseline) =>
        new(plan.Id, "rolled-back", reason, plan.CandidateRevision, plan.BaseRevision, plan.SharePercent, plan.Nodes, canary, baseline, null, plan.StartedAt, _time.GetUtcNow());

    [LoggerMessage(EventId = EventIds.ConfigCanary + 1, Level = LogLevel.Information, Message = "Canary {Id}: this node is {Role}, running config revision {Revision}")]
    private static partial void LogRole(ILogger logger, string id, string role, string revision);

    [LoggerMessage(EventId = EventIds.ConfigCanary + 2, Level = LogLevel.Information, Message = "Canary {Id} {Outcome}: {Reason}; {Figures}")]
    private static partial void LogDecision(ILogger logger, string id, string outcome, string reason, string figures);

    [LoggerMessage(EventId = EventIds.ConfigCanary + 3, Level = LogLevel.Warning, Message = "Canary {Id} rolled back: {Reason}; this node runs the config in etcd")]
    private static partial void LogAbandoned(ILogger logger, string id, string reason);

    [LoggerMessage(EventId = EventIds.ConfigCanary + 4, Level = LogLevel.Warning, Message = "Canary {Id} removed by this node: {Reason}")]
    private static partial void LogDeadline(ILogger logger, string id, string reason);
}
