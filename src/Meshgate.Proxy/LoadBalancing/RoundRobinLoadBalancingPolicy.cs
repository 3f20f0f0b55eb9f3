using System.Runtime.CompilerServices;
using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>
/// Smooth weighted round-robin (the nginx algorithm): weight 3:1 gives A,A,B,A rather than A,A,A,B, and
/// equal weights give exact rotation.
/// </summary>
/// <remarks>
/// The interleaved schedule for one available-destinations list is computed once and cached, so a pick is
/// one <see cref="Interlocked.Increment(ref long)"/> on a per-cluster counter and an array read. The counter
/// is per cluster rather than per schedule so a change of the available set does not restart every gateway
/// at the first destination.
/// </remarks>
internal sealed class RoundRobinLoadBalancingPolicy : WeightedLoadBalancingPolicy
{
    /// <summary>
    /// Longest schedule we build; larger weight sums are scaled down, which only happens with very large
    /// weights on many destinations and costs a proportion error below 1/<c>MaxScheduleLength</c> per destination.
    /// </summary>
    internal const int MaxScheduleLength = 16_384;

    private readonly ConditionalWeakTable<ClusterState, Counter> _counters = new();
    private readonly ConditionalWeakTable<WeightedDestinations, DestinationState[]> _schedules = new();

    public override string Name => PolicyNames.RoundRobin;

    protected override DestinationState Pick(HttpContext context, ClusterState cluster, WeightedDestinations weighted)
    {
        if (!_schedules.TryGetValue(weighted, out var schedule))
        {
            schedule = _schedules.GetValue(weighted, static w => BuildSchedule(w.Destinations, w.Weights));
        }

        var counter = _counters.GetOrCreateValue(cluster);
        var ticket = (ulong)(Interlocked.Increment(ref counter.Value) - 1);
        return schedule[(int)(ticket % (ulong)schedule.Length)];
    }

    /// <summary>One full cycle of smooth weighted round-robin over <paramref name="weights"/>.</summary>
    internal static DestinationState[] BuildSchedule(DestinationState[] destinations, int[] weights)
    {
        var reduced = ReduceWeights(weights);
        long total = 0;
        foreach (var w in reduced)
        {
            total += w;
        }

        var schedule = new DestinationState[total];
        var current = new long[reduced.Length];
        for (var slot = 0; slot < schedule.Length; slot++)
        {
            var best = 0;
            for (var i = 0; i < reduced.Length; i++)
            {
                current[i] += reduced[i];
                // Strict '>' keeps ties in list order, which makes equal weights an exact rotation.
                if (current[i] > current[best])
                {
                    best = i;
                }
            }

            current[best] -= total;
            schedule[slot] = destinations[best];
        }

        return schedule;
    }

    private static int[] ReduceWeights(int[] weights)
    {
        // Dividing by the GCD keeps the cycle short (weights 100:100 cycle every 2 picks, not 200).
        var gcd = 0;
        long total = 0;
        foreach (var w in weights)
        {
            gcd = Gcd(gcd, w);
            total += w;
        }

        var reduced = new int[weights.Length];
        var reducedTotal = total / gcd;
        for (var i = 0; i < weights.Length; i++)
        {
            reduced[i] = reducedTotal <= MaxScheduleLength
                ? weights[i] / gcd
                : (int)Math.Max(1, weights[i] * (long)MaxScheduleLength / total);
        }

        return reduced;
    }

    private static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }

    private sealed class Counter
    {
        public long Value;
    }
}
