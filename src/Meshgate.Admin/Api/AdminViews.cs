using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Meshgate.Configuration.Sources.Etcd.Canary;
using Meshgate.Proxy.Mirroring;
using Meshgate.Proxy.RateLimiting;
using Meshgate.Proxy.Routing;

namespace Meshgate.Admin.Api;

// The admin API's answers, named so that System.Text.Json's source generator (AdminJsonContext) can describe them:
// the Native AOT build has no reflection serializer for them. Property names are the JSON's, camel-cased by the
// admin app's web defaults; the order of the properties is the order of the JSON.

/// <summary>GET /admin/health/live and /ready.</summary>
/// <param name="Config">Whether this node is in sync with its watched config source; left out for a file or no source.</param>
internal sealed record HealthView(string Status, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ConfigSourceView? Config = null);

/// <summary>A watched config source (etcd) as this node sees it.</summary>
internal sealed record ConfigSourceView(string Source, bool Synced, string? Reason, DateTimeOffset LastSyncAt, double StaleSeconds);

/// <summary>GET /admin/config/status and the answer of POST /admin/reload.</summary>
/// <param name="Revision">The same value as Version: the revision that config writes send back in If-Match.</param>
/// <param name="RecentAttempts">Newest first; null in the reload's answer.</param>
internal sealed record ConfigStatusView(ConfigSourceView? Source, string Version, string Revision, int Generation, DateTimeOffset LoadedAt, DateTimeOffset? LastAttemptAt,
    string? LastTrigger, bool LastAttemptSucceeded, IEnumerable<string> LastErrors, IReadOnlyList<string> RestartRequired, IEnumerable<ReloadAttemptView>? RecentAttempts);

internal sealed record ReloadAttemptView(DateTimeOffset At, string Trigger, bool Applied, string Version, IEnumerable<string> Errors);

/// <summary>The answer of POST /admin/cache/purge: how many entries went.</summary>
internal sealed record CachePurgeView(int Purged);

/// <summary>One route of GET /admin/routes; the config parts are shown as GET /admin/config shows them.</summary>
internal sealed record RouteView(string? Id, int Order, string? Cluster, JsonNode? Split, JsonNode? Match, JsonNode? Transforms, RouteMirrorView? Mirror, JsonNode? Faults);

internal sealed record RouteMirrorView(string? Cluster, double Percent, bool Compare, MirrorCountsView Counts);

/// <summary>One cluster of GET /admin/clusters.</summary>
/// <param name="CircuitBreaker">Null when the cluster sets no limits.</param>
/// <param name="OutlierDetection">Null when the cluster has no outlierDetection.</param>
internal sealed record ClusterView(string Id, string? LoadBalancing, int AvailableEndpoints, IEnumerable<RouteExplainer.EndpointView> Endpoints,
    CircuitBreakerView? CircuitBreaker, OutlierDetectionView? OutlierDetection);

/// <summary>A cluster's limits, requests in flight and refusals per limit.</summary>
internal sealed record CircuitBreakerView(CircuitBreakerLimitsView Limits, int ActiveRequests, CircuitBreakerRejectionsView Rejected);

internal sealed record CircuitBreakerLimitsView(int? MaxConcurrentRequests, int? MaxPendingRequests, int? MaxConnectionsPerEndpoint);

internal sealed record CircuitBreakerRejectionsView(long MaxConcurrentRequests, long MaxPendingRequests);

/// <summary>How many endpoints are ejected now, and every endpoint that has been.</summary>
internal sealed record OutlierDetectionView(int Ejected, IReadOnlyList<EjectedEndpointView> Endpoints);

internal sealed record EjectedEndpointView(string Address, DateTimeOffset? EjectedUntil, int Ejections, string? Reason);

/// <summary>GET /admin/accesslog: the policy and the queue's counters; all but Enabled null when the log is off.</summary>
internal sealed record AccessLogView(bool Enabled, string? Output, double? SampleSuccesses, int? QueueCapacity, int? Queued, long? Written, long? Dropped, long? SampledOut, long? WriteErrors);

/// <summary>GET /admin/ratelimits.</summary>
internal sealed record RateLimitsView(RateLimitStoreView? Store, IReadOnlyList<RateLimitPolicyView> Policies);

/// <summary>The answer of an applied config write.</summary>
internal sealed record ConfigWriteView(string Revision, string PreviousRevision);

/// <summary>GET /admin/canary.</summary>
/// <param name="Progress">The command's last reading of the running canary; null for none, or an older canary's.</param>
internal sealed record CanaryView(string Node, bool Running, string? Role, CanaryPlanView? Plan, CanaryNodeFiguresView? ThisNode, CanaryReading? Progress, CanaryReading? LastDecision, string? EtcdError);

/// <summary>The running canary's plan, without the candidate's YAML.</summary>
internal sealed record CanaryPlanView(string Id, double SharePercent, IReadOnlyList<string> Nodes, string CandidateRevision, string BaseRevision, DateTimeOffset StartedAt, DateTimeOffset Deadline);

internal sealed record CanaryNodeFiguresView(long Requests, long ServerErrors, double ErrorRate, double? P99Ms);
