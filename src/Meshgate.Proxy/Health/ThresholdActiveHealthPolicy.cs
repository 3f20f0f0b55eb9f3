using System.Runtime.CompilerServices;
using Meshgate.Configuration.Compilation;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Health;

/// <summary>
/// Active health with hysteresis: a healthy destination is taken out only after
/// <see cref="MetadataKeys.UnhealthyThreshold"/> consecutive failed probes (default 3), and an unhealthy one
/// comes back only after <see cref="MetadataKeys.HealthyThreshold"/> consecutive successful probes (default 1),
/// so a single lost probe does not flap a destination. A destination whose state is still unknown takes the
/// state of its first probe, so a dead destination is not sent traffic for several intervals after start.
/// </summary>
/// <remarks>
/// A probe succeeds on a 2xx or 3xx response; any other status, a transport error or a timeout (which YARP
/// reports as an exception) is a failure.
/// </remarks>
internal sealed partial class ThresholdActiveHealthPolicy(IDestinationHealthUpdater healthUpdater, ILogger<ThresholdActiveHealthPolicy> logger)
    : IActiveHealthCheckPolicy
{
    internal const int DefaultUnhealthyThreshold = 3;
    internal const int DefaultHealthyThreshold = 1;

    private readonly ConditionalWeakTable<DestinationState, ProbeStreak> _streaks = new();

    public string Name => PolicyNames.ActiveHealth;

    public void ProbingCompleted(ClusterState cluster, IReadOnlyList<DestinationProbingResult> probingResults)
    {
        if (probingResults.Count == 0)
        {
            return;
        }

        var metadata = cluster.Model?.Config.Metadata;
        var unhealthyThreshold = HealthMetadata.ReadPositiveInt(metadata, MetadataKeys.UnhealthyThreshold, DefaultUnhealthyThreshold);
        var healthyThreshold = HealthMetadata.ReadPositiveInt(metadata, MetadataKeys.HealthyThreshold, DefaultHealthyThreshold);

        var newStates = new NewActiveDestinationHealth[probingResults.Count];
        for (var i = 0; i < probingResults.Count; i++)
        {
            var result = probingResults[i];
            var destination = result.Destination;
            var previous = destination.Health.Active;
            var succeeded = IsSuccess(result);
            var streak = _streaks.GetOrCreateValue(destination);
            var next = streak.Record(succeeded, previous, healthyThreshold, unhealthyThreshold, out var streakLength);
            if (next != previous)
            {
                if (next == DestinationHealth.Unhealthy)
                {
                    Log.DestinationUnhealthy(logger, cluster.ClusterId, destination.DestinationId, streakLength, Describe(result));
                }
                else
                {
                    Log.DestinationHealthy(logger, cluster.ClusterId, destination.DestinationId, streakLength);
                }
            }

            newStates[i] = new NewActiveDestinationHealth(destination, next);
        }

        healthUpdater.SetActive(cluster, newStates);
    }

    internal static bool IsSuccess(DestinationProbingResult result)
    {
        if (result.Exception is not null || result.Response is null)
        {
            return false;
        }

        var status = (int)result.Response.StatusCode;
        return status is >= 200 and < 400;
    }

    private static string Describe(DestinationProbingResult result) =>
        result.Exception is { } exception
            ? exception.GetType().Name
            : result.Response is { } response ? ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture) : "no response";

    /// <summary>Consecutive probe outcomes of one destination.</summary>
    private sealed class ProbeStreak
    {
        private readonly Lock _gate = new();
        private int _successes;
        private int _failures;

        public DestinationHealth Record(bool succeeded, DestinationHealth previous, int healthyThreshold, int unhealthyThreshold, out int streakLength)
        {
            // YARP does not overlap probe rounds of one cluster, but a destination object can be shared by a
            // reloaded cluster for a moment; the lock keeps the two counters consistent with each other.
            lock (_gate)
            {
                if (succeeded)
                {
                    _failures = 0;
                    streakLength = ++_successes;
                    return previous switch
                    {
                        DestinationHealth.Unknown => DestinationHealth.Healthy,
                        DestinationHealth.Unhealthy when _successes >= healthyThreshold => DestinationHealth.Healthy,
                        _ => previous,
                    };
                }

                _successes = 0;
                streakLength = ++_failures;
                return previous switch
                {
                    DestinationHealth.Unknown => DestinationHealth.Unhealthy,
                    DestinationHealth.Healthy when _failures >= unhealthyThreshold => DestinationHealth.Unhealthy,
                    _ => previous,
                };
            }
        }
    }
}
