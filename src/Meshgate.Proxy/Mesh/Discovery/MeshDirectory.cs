using System.Globalization;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Resilience;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace Meshgate.Proxy.Mesh.Discovery;

/// <summary>
/// The latest control-plane snapshot this proxy applied, compiled for the request path: the destinations of every
/// <c>discovery: mesh</c> cluster and the retry/timeout policy for calls to each service. A snapshot that cannot be
/// applied is refused whole (the caller NACKs it) and the previous one stays. Applying one republishes YARP's config
/// with the mesh clusters' new destinations only: routes and the config file's snapshot are untouched, so nothing is
/// recompiled, YARP keeps the state (health, ejections, in-flight counts) of destinations that stay, and requests in
/// flight finish on the destination they have.
/// </summary>
public sealed partial class MeshDirectory
{
    private static readonly IReadOnlyDictionary<string, DestinationConfig> NoDestinations = new Dictionary<string, DestinationConfig>();

    private readonly TimeProvider _time;
    private readonly IRandomSource _random;
    private readonly ILogger _logger;
    private readonly RouteResilience _defaultResilience;
    private volatile State? _state;

    internal MeshDirectory(TimeProvider time, IRandomSource random, ILogger<MeshDirectory> logger)
    {
        _time = time;
        _random = random;
        _logger = logger;
        _defaultResilience = new RouteResilience(Compile(null), time, random);
    }

    /// <summary>Raised after a snapshot is applied; the config provider republishes the mesh clusters.</summary>
    public event Action? Changed;

    /// <summary>The version of the applied snapshot; 0 before the first.</summary>
    public long Version => _state?.Version ?? 0;

    public bool HasSnapshot => _state is not null;

    /// <summary>Applies a snapshot; returns null, or why it was refused (the NACK's reason) while the previous one stays.</summary>
    public string? Apply(MeshView view)
    {
        var errors = new List<string>();
        var resilience = new Dictionary<string, RouteResilience>(StringComparer.Ordinal);
        foreach (var (service, policy) in view.Policies)
        {
            if (Check(policy) is { } error) errors.Add($"services[{service}]: {error}");
            else resilience[service] = new RouteResilience(Compile(policy), _time, _random);
        }
        if (errors.Count > 0)
        {
            var reason = string.Join("; ", errors);
            LogRefused(_logger, view.Version, reason);
            return reason;
        }
        var destinations = view.Services.ToDictionary(s => s.Key, s => Destinations(s.Value, view.Policies.GetValueOrDefault(s.Key)), StringComparer.Ordinal);
        _state = new State(view.Version, view, destinations, resilience);
        LogApplied(_logger, view.Version, view.Services.Count, view.Services.Sum(s => s.Value.Count));
        Changed?.Invoke();
        return null;
    }

    /// <summary>The live instances of <paramref name="service"/> in the applied snapshot; null before the first snapshot.</summary>
    public IReadOnlyList<MeshInstance>? InstancesOf(string service) =>
        _state is { } state ? state.View.Services.GetValueOrDefault(service) ?? [] : null;

    /// <summary>A mesh cluster with the current instances of its service as destinations (none before the first snapshot).</summary>
    internal ClusterConfig WithDestinations(ClusterConfig cluster)
    {
        var service = cluster.Metadata![MetadataKeys.MeshService];
        var destinations = _state?.Destinations.GetValueOrDefault(service) ?? NoDestinations;
        return cluster with { Destinations = destinations };
    }

    /// <summary>The retries and timeout for calls to <paramref name="service"/>: its mesh policy, or the mesh default.</summary>
    internal RouteResilience ResilienceOf(string service) => _state?.Resilience.GetValueOrDefault(service) ?? _defaultResilience;

    private static string? Check(MeshServicePolicy policy)
    {
        if (policy.Timeout is { } timeout && timeout < TimeSpan.Zero) return "timeout must not be negative";
        if (policy.RetryAttempts is < 0 or > 9) return $"retry_attempts must be between 0 and 9, found {policy.RetryAttempts}";
        if (policy.Split.FirstOrDefault(v => v.Weight < 0) is { } negative) return $"split weight of version '{negative.Version}' is negative ({negative.Weight})";
        if (policy.Split.Count > 0 && policy.Split.All(v => v.Weight == 0)) return "every version in split has weight 0, so the service could get no traffic";
        if (policy.Split.GroupBy(v => v.Version).FirstOrDefault(g => g.Count() > 1) is { } twice) return $"version '{twice.Key}' appears twice in split";
        return null;
    }

    /// <summary>
    /// Mesh calls retry idempotent requests on another instance even without a policy: once, and only for failures
    /// that happened before the instance answered (connect failure, reset), so a dead instance costs no request.
    /// A policy's retry_attempts also retries 502, 503 and 504 answers.
    /// </summary>
    private static ResiliencePolicy Compile(MeshServicePolicy? policy)
    {
        var timeout = policy?.Timeout is { } t && t > TimeSpan.Zero ? t : (TimeSpan?)null;
        var retry = policy is { RetryAttempts: > 0 } p
            ? new RetryPolicy(p.RetryAttempts + 1, RetryOn.ConnectFailure | RetryOn.Reset | RetryOn.Timeout | RetryOn.GatewayStatus, [], nonIdempotent: false, 64 * 1024, TimeSpan.FromMilliseconds(25), TimeSpan.FromSeconds(1))
            : new RetryPolicy(2, RetryOn.ConnectFailure | RetryOn.Reset, [], nonIdempotent: false, 64 * 1024, TimeSpan.Zero, TimeSpan.Zero);
        return new ResiliencePolicy($"mesh:{policy?.Service}", timeout, PerTryTimeout: null, retry, Hedging: null);
    }

    /// <summary>
    /// One destination per instance, keyed by instance id so YARP keeps an instance's health across snapshots. With a
    /// split, each version's weight is shared among its live instances (weights are integers up to
    /// <see cref="WeightedDestinations.MaxWeight"/>); versions without instances drop out and the rest keep their ratio.
    /// </summary>
    private static Dictionary<string, DestinationConfig> Destinations(IReadOnlyList<MeshInstance> instances, MeshServicePolicy? policy)
    {
        var split = policy?.Split is { Count: > 0 } s ? s.ToDictionary(v => v.Version, v => v.Weight, StringComparer.Ordinal) : null;
        var perVersion = instances.GroupBy(i => i.Version ?? "").ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var total = split is null ? 0 : perVersion.Keys.Sum(v => (long)split.GetValueOrDefault(v));
        var destinations = new Dictionary<string, DestinationConfig>(instances.Count, StringComparer.Ordinal);
        foreach (var instance in instances)
        {
            var address = $"https://{(instance.Address.Contains(':') ? $"[{instance.Address}]" : instance.Address)}:{instance.Port.ToString(CultureInfo.InvariantCulture)}";
            Dictionary<string, string>? metadata = null;
            if (split is not null)
            {
                var versionWeight = split.GetValueOrDefault(instance.Version ?? "");
                var weight = total == 0 || versionWeight == 0 ? 0
                    : Math.Max(1, (int)Math.Round((double)WeightedDestinations.MaxWeight * versionWeight / total / perVersion[instance.Version ?? ""]));
                metadata = new Dictionary<string, string> { [MetadataKeys.Weight] = weight.ToString(CultureInfo.InvariantCulture) };
            }
            destinations[instance.Id] = new DestinationConfig { Address = address, Metadata = metadata };
        }
        return destinations;
    }

    private sealed record State(
        long Version,
        MeshView View,
        IReadOnlyDictionary<string, Dictionary<string, DestinationConfig>> Destinations,
        IReadOnlyDictionary<string, RouteResilience> Resilience);

    [LoggerMessage(EventId = Common.EventIds.MeshDiscovery + 0, Level = LogLevel.Information, Message = "Mesh snapshot {Version} applied: {Services} services, {Instances} live instances")]
    private static partial void LogApplied(ILogger logger, long version, int services, int instances);

    [LoggerMessage(EventId = Common.EventIds.MeshDiscovery + 1, Level = LogLevel.Warning, Message = "Mesh snapshot {Version} refused; the previous one stays: {Reason}")]
    private static partial void LogRefused(ILogger logger, long version, string reason);
}
