using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Resilience.OutlierDetection;

/// <summary>
/// Outlier detection, as YARP's passive health policy <see cref="PolicyNames.OutlierDetection"/>: it sees every
/// proxied attempt of a cluster with <c>outlierDetection</c> and ejects an endpoint (marks it passively
/// unhealthy, so load balancing skips it) after consecutive 5xx or gateway errors, or when its success rate
/// over an interval is far below the cluster's. The n-th ejection lasts n × baseEjectionTime (capped);
/// YARP brings the endpoint back when that time is up.
/// </summary>
/// <remarks>
/// <para>
/// Never more than maxEjectionPercent of the cluster's endpoints are ejected at once (counting only
/// ejections, not endpoints that fail active checks). An ejected endpoint that also fails its active checks
/// stays out until both agree it is fine: YARP uses an endpoint only when neither says unhealthy.
/// </para>
/// <para>
/// Each cluster has a timer (from <see cref="TimeProvider"/>) that runs <see cref="RunInterval"/> every
/// interval: the success-rate analysis over the requests of that interval, the decay of ejection
/// multipliers (one step per interval in service), and the log line for endpoints that came back.
/// </para>
/// </remarks>
internal sealed partial class OutlierDetector : IPassiveHealthCheckPolicy, IClusterChangeListener, IOutlierDetectionState, IDisposable
{
    internal const string Consecutive5xxReason = "consecutive-5xx";
    internal const string ConsecutiveGatewayErrorsReason = "consecutive-gateway-errors";
    internal const string SuccessRateReason = "success-rate";

    private readonly IDestinationHealthUpdater _healthUpdater;
    private readonly Func<string, OutlierDetectionPolicy?> _settingsOf;
    private readonly TimeProvider _time;
    private readonly OutlierDetectionMetrics _metrics;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<ClusterState, ClusterOutliers> _clusters = new();

    /// <param name="settingsOf">The current settings of a cluster, by id; read on every use so a reload applies at once.</param>
    public OutlierDetector(IDestinationHealthUpdater healthUpdater, Func<string, OutlierDetectionPolicy?> settingsOf, TimeProvider time,
        OutlierDetectionMetrics metrics, ILogger<OutlierDetector> logger)
    {
        _healthUpdater = healthUpdater;
        _settingsOf = settingsOf;
        _time = time;
        _metrics = metrics;
        _logger = logger;
    }

    public string Name => PolicyNames.OutlierDetection;

    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
        var outcome = UpstreamOutcomes.Classify(context);
        if (outcome == UpstreamOutcome.Ignored || _settingsOf(cluster.ClusterId) is not { } settings)
        {
            return;
        }

        var outliers = _clusters.GetOrAdd(cluster, static c => new ClusterOutliers(c));
        var endpoint = outliers.Endpoints.GetValue(destination, static _ => new EndpointOutliers());
        var reason = endpoint.Record(outcome, settings);
        if (reason is not null)
        {
            TryEject(cluster, outliers, destination, endpoint, settings, reason);
        }
    }

    /// <summary>One interval's work for a cluster; the cluster's timer calls it, tests call it directly.</summary>
    internal void RunInterval(ClusterState cluster)
    {
        if (!_clusters.TryGetValue(cluster, out var outliers) || _settingsOf(cluster.ClusterId) is not { } settings)
        {
            return;
        }

        var now = _time.GetUtcNow();
        List<(DestinationState Destination, EndpointOutliers Endpoint, double Rate)>? judged = null;
        foreach (var destination in cluster.Destinations.Values)
        {
            if (!outliers.Endpoints.TryGetValue(destination, out var endpoint))
            {
                continue;
            }

            var (successes, requests) = endpoint.TakeIntervalCounts();
            var ejected = destination.Health.Passive == DestinationHealth.Unhealthy;
            lock (outliers.Gate)
            {
                if (endpoint.EjectedUntil is not null && !ejected)
                {
                    Log.EndpointReturned(_logger, cluster.ClusterId, destination.DestinationId, endpoint.Ejections);
                    endpoint.EjectedUntil = null;
                    endpoint.ServingSince = now;
                }
                else if (!ejected && endpoint.Ejections > 0 && now - endpoint.ServingSince >= settings.Interval)
                {
                    // A multiplier that only grew would punish an endpoint forever for one bad hour.
                    endpoint.Ejections--;
                    endpoint.ServingSince = now;
                }
            }

            if (settings.SuccessRate is { } rate && !ejected && requests >= rate.RequestVolume)
            {
                (judged ??= []).Add((destination, endpoint, (double)successes / requests));
            }
        }

        if (settings.SuccessRate is { } successRate && judged is not null && judged.Count >= successRate.MinimumHosts)
        {
            var mean = judged.Average(j => j.Rate);
            var stdev = Math.Sqrt(judged.Average(j => (j.Rate - mean) * (j.Rate - mean)));
            var threshold = mean - successRate.StdevFactor * stdev;
            // Worst first, so that when maxEjectionPercent allows only some ejections they take the worst endpoints.
            foreach (var (destination, endpoint, rate) in judged.Where(j => j.Rate < threshold).OrderBy(j => j.Rate))
            {
                Log.SuccessRateOutlier(_logger, cluster.ClusterId, destination.DestinationId, rate, mean, threshold);
                TryEject(cluster, outliers, destination, endpoint, settings, SuccessRateReason);
            }
        }

        outliers.EnsureTimer(this, settings.Interval);
    }

    private void TryEject(ClusterState cluster, ClusterOutliers outliers, DestinationState destination, EndpointOutliers endpoint, OutlierDetectionPolicy settings, string reason)
    {
        lock (outliers.Gate)
        {
            // Either way the endpoint needs a whole new streak before it is considered again.
            endpoint.ResetStreaks();
            if (destination.Health.Passive == DestinationHealth.Unhealthy)
            {
                return;
            }

            var total = cluster.Destinations.Count;
            var ejected = 0;
            foreach (var other in cluster.Destinations.Values)
            {
                if (other.Health.Passive == DestinationHealth.Unhealthy) ejected++;
            }
            var allowed = total * settings.MaxEjectionPercent / 100;
            if (ejected + 1 > allowed)
            {
                Log.EjectionPrevented(_logger, cluster.ClusterId, destination.DestinationId, reason, ejected, total, settings.MaxEjectionPercent);
                _metrics.EjectionPrevented(cluster.ClusterId, reason);
                return;
            }

            endpoint.Ejections++;
            var period = settings.EjectionTime(endpoint.Ejections);
            var now = _time.GetUtcNow();
            endpoint.EjectedUntil = now + period;
            endpoint.LastReason = reason;
            Log.EndpointEjected(_logger, cluster.ClusterId, destination.DestinationId, reason, endpoint.Ejections, period);
            _metrics.Ejected(cluster.ClusterId, reason);
            _healthUpdater.SetPassive(cluster, destination, DestinationHealth.Unhealthy, period);
        }
    }

    public EjectionView? DescribeEjection(ClusterState cluster, DestinationState destination)
    {
        if (!_clusters.TryGetValue(cluster, out var outliers) || !outliers.Endpoints.TryGetValue(destination, out var endpoint))
        {
            return null;
        }

        lock (outliers.Gate)
        {
            return endpoint.Ejections == 0 && endpoint.EjectedUntil is null
                ? null
                : new EjectionView(destination.Health.Passive == DestinationHealth.Unhealthy ? endpoint.EjectedUntil : null, endpoint.Ejections, endpoint.LastReason);
        }
    }

    public void OnClusterAdded(ClusterState cluster) => Track(cluster);

    public void OnClusterChanged(ClusterState cluster) => Track(cluster);

    public void OnClusterRemoved(ClusterState cluster)
    {
        if (_clusters.TryRemove(cluster, out var outliers))
        {
            outliers.Dispose();
        }
    }

    private void Track(ClusterState cluster)
    {
        var passive = cluster.Model.Config.HealthCheck?.Passive;
        if (passive?.Enabled == true && passive.Policy == Name && _settingsOf(cluster.ClusterId) is { } settings)
        {
            _clusters.GetOrAdd(cluster, static c => new ClusterOutliers(c)).EnsureTimer(this, settings.Interval);
        }
        else
        {
            OnClusterRemoved(cluster);
        }
    }

    public void Dispose()
    {
        foreach (var outliers in _clusters.Values)
        {
            outliers.Dispose();
        }
        _clusters.Clear();
    }

    private void Tick(ClusterState cluster)
    {
        try
        {
            RunInterval(cluster);
        }
        catch (Exception e)
        {
            Log.IntervalFailed(_logger, cluster.ClusterId, e);
        }
    }

    /// <summary>Outlier state of one cluster: its endpoints' counters and its interval timer.</summary>
    private sealed class ClusterOutliers(ClusterState cluster) : IDisposable
    {
        private ITimer? _timer;
        private TimeSpan _interval;

        /// <summary>Guards ejection decisions and the ejection fields of every endpoint; taken only on rare paths.</summary>
        public Lock Gate { get; } = new();

        public ConditionalWeakTable<DestinationState, EndpointOutliers> Endpoints { get; } = new();

        public void EnsureTimer(OutlierDetector detector, TimeSpan interval)
        {
            lock (Gate)
            {
                if (_timer is not null && _interval == interval) return;
                _interval = interval;
                if (_timer is null)
                {
                    _timer = detector._time.CreateTimer(static state =>
                    {
                        var (detector, cluster) = ((OutlierDetector, ClusterState))state!;
                        detector.Tick(cluster);
                    }, (detector, cluster), interval, interval);
                }
                else
                {
                    _timer.Change(interval, interval);
                }
            }
        }

        public void Dispose()
        {
            lock (Gate)
            {
                _timer?.Dispose();
                _timer = null;
            }
        }
    }

    /// <summary>Counters of one endpoint. Streaks and interval counts are lock-free; ejection fields are under the cluster's gate.</summary>
    private sealed class EndpointOutliers
    {
        private int _consecutive5xx;
        private int _consecutiveGatewayErrors;
        private long _intervalSuccesses;
        private long _intervalRequests;

        public int Ejections;
        public DateTimeOffset? EjectedUntil;
        public DateTimeOffset ServingSince;
        public string? LastReason;

        /// <summary>Counts one outcome; returns the reason to eject, or null.</summary>
        public string? Record(UpstreamOutcome outcome, OutlierDetectionPolicy settings)
        {
            if (settings.SuccessRate is not null)
            {
                Interlocked.Increment(ref _intervalRequests);
                if (outcome == UpstreamOutcome.Success) Interlocked.Increment(ref _intervalSuccesses);
            }

            if (outcome == UpstreamOutcome.Success)
            {
                // Read before writing so the common all-healthy case never dirties a shared cache line.
                if (Volatile.Read(ref _consecutive5xx) != 0) Volatile.Write(ref _consecutive5xx, 0);
                if (Volatile.Read(ref _consecutiveGatewayErrors) != 0) Volatile.Write(ref _consecutiveGatewayErrors, 0);
                return null;
            }

            var serverErrors = Interlocked.Increment(ref _consecutive5xx);
            if (outcome == UpstreamOutcome.GatewayError)
            {
                var gatewayErrors = Interlocked.Increment(ref _consecutiveGatewayErrors);
                if (settings.ConsecutiveGatewayErrors is { } gatewayLimit && gatewayErrors >= gatewayLimit) return ConsecutiveGatewayErrorsReason;
            }
            else if (Volatile.Read(ref _consecutiveGatewayErrors) != 0)
            {
                Volatile.Write(ref _consecutiveGatewayErrors, 0);
            }

            return serverErrors >= settings.Consecutive5xx ? Consecutive5xxReason : null;
        }

        public void ResetStreaks()
        {
            Volatile.Write(ref _consecutive5xx, 0);
            Volatile.Write(ref _consecutiveGatewayErrors, 0);
        }

        public (long Successes, long Requests) TakeIntervalCounts()
        {
            // Requests first: a success counted between the two exchanges then lands in the next interval
            // as a success without its request, which the rate clamps below.
            var requests = Interlocked.Exchange(ref _intervalRequests, 0);
            var successes = Interlocked.Exchange(ref _intervalSuccesses, 0);
            return (Math.Min(successes, requests), requests);
        }
    }
}
