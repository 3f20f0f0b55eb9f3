using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Meshgate.Configuration.Sources.Etcd;
using Meshgate.Configuration.Sources.Etcd.Canary;
using Meshgate.Proxy.Observability.LiveStatistics;

namespace Meshgate.Commands;

/// <summary>
/// `config push --canary`: runs a candidate config on a share of the gateway nodes, compares their figures with the
/// other nodes' every interval, and at the end (or at once, when the canary's error rate is already too high)
/// promotes the candidate or rolls it back. The plan in etcd is held by this command's lease: if the command dies,
/// the lease runs out within seconds and every node returns to the config in etcd; the plan's deadline is a second
/// bound that nodes enforce themselves.
/// </summary>
internal sealed class CanaryRollout(EtcdCanaryStore store, TextWriter output, TextWriter error, TimeProvider time)
{
    public const int RolledBackExitCode = 3;

    /// <summary>How long past the planned duration nodes wait for a decision before they roll back on their own.</summary>
    public static readonly TimeSpan DeadlineMargin = TimeSpan.FromSeconds(30);

    public async Task<int> RunAsync(string path, string candidateYaml, double sharePercent, CanaryThresholds thresholds, CancellationToken cancellationToken)
    {
        var current = await store.Config.ReadAsync(cancellationToken);
        var candidate = store.Config.AsStored(candidateYaml);
        if (candidate.Revision == current.Revision)
        {
            output.WriteLine($"{store.Config.Name} already holds this config (revision {current.Revision}); nothing to canary");
            return 0;
        }
        if ((await store.ReadPlanAsync(cancellationToken)).Plan is { } running)
        {
            error.WriteLine($"canary {running.Id} is already running on {store.Config.Name} (started {running.StartedAt:O}, deadline {running.Deadline:O}); wait for its decision");
            return 1;
        }
        var nodes = (await store.ReadNodesAsync(cancellationToken)).Select(r => r.Node).Distinct(StringComparer.Ordinal).ToList();
        if (nodes.Count < 2)
        {
            error.WriteLine($"a canary needs at least 2 gateway nodes on {store.Config.Name} (one to run the candidate, one to compare with); {nodes.Count} {(nodes.Count == 1 ? "is" : "are")} running. Push without --canary instead.");
            return 1;
        }
        var chosen = Choose(nodes, sharePercent);
        var now = time.GetUtcNow();
        var plan = new CanaryPlan(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)), sharePercent, chosen, candidate.Yaml, candidate.Revision, current.Revision,
            now, now + thresholds.Duration + DeadlineMargin);
        // The lease outlives two missed renewals, so one slow etcd call does not end the canary.
        var lease = await store.GrantLeaseAsync(thresholds.Interval * 2 + TimeSpan.FromSeconds(1), cancellationToken);
        if (!await store.CreatePlanAsync(plan, lease, cancellationToken))
        {
            await store.RevokeLeaseAsync(lease, CancellationToken.None);
            error.WriteLine($"another canary started on {store.Config.Name} meanwhile; wait for its decision");
            return 1;
        }
        var (_, planRevision) = await store.ReadPlanAsync(cancellationToken);
        output.WriteLine($"canary {plan.Id}: {path} (revision {plan.CandidateRevision}) on {chosen.Count} of {nodes.Count} nodes ({string.Join(", ", chosen)}), "
            + $"baseline revision {plan.BaseRevision}, for {Configuration.Model.Duration.Format(thresholds.Duration)}; deadline {plan.Deadline:O}");

        try
        {
            return await WatchAsync(plan, planRevision, lease, thresholds, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Interrupted (Ctrl+C, SIGTERM): roll back now rather than leave the nodes to the lease.
            var reports = await store.ReadNodesAsync(CancellationToken.None);
            var (canary, baseline) = CanaryJudge.Groups(plan.Id, reports, P99);
            await DecideAsync(plan, planRevision, thresholds, canary, baseline, "the command was interrupted", promote: false, CancellationToken.None);
            return RolledBackExitCode;
        }
    }

    private async Task<int> WatchAsync(CanaryPlan plan, long planRevision, long lease, CanaryThresholds thresholds, CancellationToken cancellationToken)
    {
        var started = time.GetUtcNow();
        while (true)
        {
            await Task.Delay(thresholds.Interval, time, cancellationToken);
            if (!await store.KeepAliveAsync(lease, cancellationToken))
            {
                error.WriteLine($"canary {plan.Id} rolled back: its lease ran out before the command renewed it (etcd too slow, or the command paused); the nodes returned to the config in etcd");
                return RolledBackExitCode;
            }
            var elapsed = time.GetUtcNow() - started;
            var reports = await store.ReadNodesAsync(cancellationToken);
            var (canary, baseline) = CanaryJudge.Groups(plan.Id, reports, P99);
            var final = elapsed >= thresholds.Duration;
            output.WriteLine($"  {elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s: {CanaryJudge.Figures(canary, baseline)}");
            await store.WriteProgressAsync(Reading(plan, "running", null, canary, baseline, thresholds), cancellationToken);

            // A canary node that refused the candidate (a certificate path missing on it, say) is not testing it.
            if (elapsed >= thresholds.Interval * 3 || final)
            {
                var stale = reports.Where(r => plan.Nodes.Contains(r.Node) && r.Canary == plan.Id && r.Revision != plan.CandidateRevision).Select(r => $"{r.Node} runs {r.Revision}").ToList();
                if (stale.Count > 0)
                {
                    return await DecideAsync(plan, planRevision, thresholds, canary, baseline,
                        $"canary nodes did not apply the candidate ({string.Join(", ", stale)}): see their /admin/config/status", promote: false, cancellationToken);
                }
            }
            if (CanaryJudge.Breach(canary, baseline, thresholds, final) is { } breach)
            {
                return await DecideAsync(plan, planRevision, thresholds, canary, baseline, breach, promote: false, cancellationToken);
            }
            if (final)
            {
                var reason = $"within the thresholds for {Configuration.Model.Duration.Format(thresholds.Duration)} (error rate at most {CanaryJudge.Percent(thresholds.MaxErrorRateIncrease)} higher, "
                    + $"p99 at most {thresholds.MaxP99Ratio.ToString(CultureInfo.InvariantCulture)} times, at least {thresholds.MinRequests} requests each)";
                return await DecideAsync(plan, planRevision, thresholds, canary, baseline, reason, promote: true, cancellationToken);
            }
        }
    }

    private async Task<int> DecideAsync(CanaryPlan plan, long planRevision, CanaryThresholds thresholds, CanaryGroup canary, CanaryGroup baseline, string reason, bool promote, CancellationToken cancellationToken)
    {
        if (promote)
        {
            var decision = Reading(plan, "promoted", reason, canary, baseline, thresholds);
            if (await store.PromoteAsync(plan, decision, cancellationToken))
            {
                output.WriteLine($"canary {plan.Id} promoted: {reason}; {CanaryJudge.Figures(canary, baseline)}");
                output.WriteLine($"{store.Config.Name} now holds revision {plan.CandidateRevision} (was {plan.BaseRevision})");
                return 0;
            }
            reason = $"the config in etcd changed during the canary (it is no longer revision {plan.BaseRevision}); push again over the new config";
        }
        var rolledBack = Reading(plan, "rolled-back", reason, canary, baseline, thresholds);
        if (!await store.RollBackAsync(planRevision, rolledBack, cancellationToken))
        {
            error.WriteLine($"canary {plan.Id} rolled back: its plan was already gone (lease or deadline ran out); {CanaryJudge.Figures(canary, baseline)}");
            return RolledBackExitCode;
        }
        error.WriteLine($"canary {plan.Id} rolled back: {reason}; {CanaryJudge.Figures(canary, baseline)}");
        return RolledBackExitCode;
    }

    private CanaryReading Reading(CanaryPlan plan, string outcome, string? reason, CanaryGroup canary, CanaryGroup baseline, CanaryThresholds thresholds) =>
        new(plan.Id, outcome, reason, plan.CandidateRevision, plan.BaseRevision, plan.SharePercent, plan.Nodes, canary, baseline, thresholds, plan.StartedAt, time.GetUtcNow());

    private static double? P99(long[] histogram) => histogram.Length == 0 ? null : LatencyHistogram.Percentile(histogram, 0.99);

    /// <summary>
    /// The canary nodes: the share of the nodes rounded up, at least one and never all, picked by a stable hash of
    /// their ids (the same nodes for the same fleet, spread independently of how ids are named).
    /// </summary>
    public static IReadOnlyList<string> Choose(IReadOnlyList<string> nodes, double sharePercent)
    {
        var count = Math.Clamp((int)Math.Ceiling(nodes.Count * sharePercent / 100 - 1e-9), 1, nodes.Count - 1);
        return nodes.OrderBy(n => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(n))), StringComparer.Ordinal).Take(count).Order(StringComparer.Ordinal).ToList();
    }
}
