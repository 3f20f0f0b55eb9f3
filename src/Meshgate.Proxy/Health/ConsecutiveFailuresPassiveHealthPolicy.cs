using System.Runtime.CompilerServices;
using Meshgate.Configuration.Compilation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Health;

/// <summary>
/// Passive health: after <see cref="MetadataKeys.PassiveConsecutiveFailures"/> consecutive failed proxied
/// requests (default 5) a destination is marked passively unhealthy for the cluster's
/// <c>HealthCheck.Passive.ReactivationPeriod</c> (default 30 s), after which YARP puts it back to unknown.
/// Any successful request resets the count.
/// </summary>
/// <remarks>
/// <para>
/// A failure is a forwarder error that the destination caused (connect, request or response error, timeout)
/// or a response status of 500 or more. Errors caused by the client (it cancelled, or its request or response
/// body stream broke) neither count nor reset: they say nothing about the destination.
/// </para>
/// <para>
/// YARP calls this only when the cluster has <c>HealthCheck.Passive.Enabled = true</c> and
/// <c>Policy = </c><see cref="PolicyNames.PassiveHealth"/>, and the passive health middleware runs (it is part
/// of the default <c>MapReverseProxy()</c> pipeline).
/// </para>
/// </remarks>
internal sealed partial class ConsecutiveFailuresPassiveHealthPolicy(
    IDestinationHealthUpdater healthUpdater,
    ILogger<ConsecutiveFailuresPassiveHealthPolicy> logger) : IPassiveHealthCheckPolicy
{
    internal const int DefaultConsecutiveFailures = 5;
    internal static readonly TimeSpan DefaultReactivationPeriod = TimeSpan.FromSeconds(30);

    private readonly ConditionalWeakTable<DestinationState, FailureCount> _failures = new();
    private readonly ConditionalWeakTable<ClusterModel, Settings> _settings = new();

    public string Name => PolicyNames.PassiveHealth;

    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
        var outcome = Classify(context);
        if (outcome == Outcome.Ignored)
        {
            return;
        }

        var count = _failures.GetOrCreateValue(destination);
        if (outcome == Outcome.Success)
        {
            // Read before writing so the common all-healthy case never dirties a shared cache line.
            if (Volatile.Read(ref count.Value) != 0)
            {
                Volatile.Write(ref count.Value, 0);
            }

            return;
        }

        var settings = GetSettings(cluster);
        var failures = Interlocked.Increment(ref count.Value);
        if (failures < settings.ConsecutiveFailures)
        {
            return;
        }

        // Start counting afresh so that after reactivation the destination gets a full allowance again.
        // Concurrent failures may both get here; SetPassive with the same state is a no-op in YARP.
        Interlocked.Exchange(ref count.Value, 0);
        Log.DestinationEjected(logger, cluster.ClusterId, destination.DestinationId, failures, settings.ReactivationPeriod);
        healthUpdater.SetPassive(cluster, destination, DestinationHealth.Unhealthy, settings.ReactivationPeriod);
    }

    internal static Outcome Classify(HttpContext context)
    {
        var error = context.Features.Get<IForwarderErrorFeature>()?.Error ?? ForwarderError.None;
        switch (error)
        {
            case ForwarderError.None:
                return context.Response.StatusCode >= StatusCodes.Status500InternalServerError ? Outcome.Failure : Outcome.Success;
            case ForwarderError.RequestCanceled:
            case ForwarderError.RequestBodyCanceled:
            case ForwarderError.RequestBodyClient:
            case ForwarderError.ResponseBodyCanceled:
            case ForwarderError.ResponseBodyClient:
            case ForwarderError.UpgradeRequestCanceled:
            case ForwarderError.UpgradeRequestClient:
            case ForwarderError.UpgradeResponseCanceled:
            case ForwarderError.UpgradeResponseClient:
                return Outcome.Ignored;
            default:
                return Outcome.Failure;
        }
    }

    private Settings GetSettings(ClusterState cluster)
    {
        var model = cluster.Model;
        return model is null ? Settings.Default : _settings.GetValue(model, static m => Settings.From(m));
    }

    internal enum Outcome
    {
        Success,
        Failure,
        Ignored,
    }

    private sealed class FailureCount
    {
        public int Value;
    }

    private sealed record Settings(int ConsecutiveFailures, TimeSpan ReactivationPeriod)
    {
        public static readonly Settings Default = new(DefaultConsecutiveFailures, DefaultReactivationPeriod);

        public static Settings From(ClusterModel model) => new(
            HealthMetadata.ReadPositiveInt(model.Config.Metadata, MetadataKeys.PassiveConsecutiveFailures, DefaultConsecutiveFailures),
            model.Config.HealthCheck?.Passive?.ReactivationPeriod ?? DefaultReactivationPeriod);
    }
}
