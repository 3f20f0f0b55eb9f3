using System.Collections.Concurrent;
using Meshgate.Configuration.Compilation;

namespace Meshgate.Proxy.Resilience.Retries;

/// <summary>
/// Per-cluster counts of active requests (through routes that may retry) and of retries in flight.
/// A retry may start only while retry attempts in flight stay below max(minConcurrent, percent × active requests),
/// so when a whole cluster fails, retries add a bounded fraction of load instead of multiplying it.
/// </summary>
internal sealed class RetryBudgets
{
    private readonly ConcurrentDictionary<string, ClusterBudget> _clusters = new(StringComparer.OrdinalIgnoreCase);

    public ClusterBudget For(string clusterId) => _clusters.GetOrAdd(clusterId, static _ => new ClusterBudget());

    internal sealed class ClusterBudget
    {
        private int _active;
        private int _retries;

        public int ActiveRequests => Volatile.Read(ref _active);
        public int RetriesInFlight => Volatile.Read(ref _retries);

        public void RequestStarted() => Interlocked.Increment(ref _active);
        public void RequestEnded() => Interlocked.Decrement(ref _active);

        /// <summary>
        /// Whether one more retry may start. Only retry attempts count, not the backoff waits before them:
        /// the budget limits the load retries put on the cluster, and a waiting retry puts none. Requests that
        /// decide at the same moment may overshoot the limit by a few, briefly; the limit is not a lock.
        /// </summary>
        public bool AllowsRetry(RetryBudgetPolicy policy) =>
            Volatile.Read(ref _retries) < Math.Max(policy.MinConcurrent, (int)(policy.Percent / 100 * Volatile.Read(ref _active)));

        public void RetryStarted() => Interlocked.Increment(ref _retries);

        public void RetryEnded() => Interlocked.Decrement(ref _retries);
    }
}
