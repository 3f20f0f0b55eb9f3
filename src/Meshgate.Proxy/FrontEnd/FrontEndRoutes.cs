using System.Collections.Concurrent;
using Meshgate.Configuration;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Routing;
using Meshgate.Proxy.Upstream.Http1;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.FrontEnd;

/// <summary>
/// A route the direct front end serves itself: one whose steps (<see cref="RouteSteps"/>) are all steps the front end
/// takes (<see cref="Supported"/>), on the direct upstream path, with none of what the front end does not do: no TLS
/// upstream, header rules, prefix replacement, session affinity, outlier detection, pending-request limit or consistent
/// hashing.
/// </summary>
internal sealed class FrontEndRoute(RouteModel model, string clusterId, string? routePattern, ClusterState cluster, ForwarderChoice choice, ILoadBalancingPolicy? balancer,
    RouteAuthenticationPolicy? authentication, RateLimiting.RouteRateLimit? rateLimit, ResiliencePolicy? resilience)
{
    /// <summary>YARP's model of the route, for the server span's name and tags.</summary>
    public RouteModel Model { get; } = model;

    public string RouteId { get; } = model.Config.RouteId;
    public string ClusterId { get; } = clusterId;

    /// <summary>The route's path template, as ASP.NET Core labels <c>http.route</c>.</summary>
    public string? RoutePattern { get; } = routePattern;

    public ClusterState Cluster { get; } = cluster;
    public ForwarderChoice Choice { get; } = choice;

    /// <summary>The cluster's load-balancing policy, for more than one available destination.</summary>
    public ILoadBalancingPolicy? Balancer { get; } = balancer;

    /// <summary>The route's authentication (the pipeline's slot 5b), every provider of it reading one header; null for none.</summary>
    public RouteAuthenticationPolicy? Authentication { get; } = authentication;

    /// <summary>The route's rate limit (the pipeline's slot 7); null for none.</summary>
    public RateLimiting.RouteRateLimit? RateLimit { get; } = rateLimit;

    /// <summary>The route's resilience policy: its deadline (the pipeline's slot 8), per-try timeout and retries; null for none.</summary>
    public ResiliencePolicy? Resilience { get; } = resilience;

    /// <summary>The steps of the request path the front end takes itself.</summary>
    public const RouteStep Supported = RouteStep.Authentication | RouteStep.RateLimit | RouteStep.Resilience | RouteStep.Tracing;

    /// <summary>Why a route is left to Kestrel's pipeline; null when the front end serves it.</summary>
    public static string? Obstacle(Endpoint endpoint, SnapshotAccessor snapshots, AuthenticationProviders providers)
    {
        var metadata = endpoint.Metadata;
        if (metadata.GetMetadata<RouteModel>() is not { Cluster: { } cluster } route) return "not a proxied route";
        if (metadata.GetMetadata<RouteSteps>() is not { } steps || !steps.Holds(snapshots)) return "the config changed under the route";
        if ((steps.Steps & ~Supported) is var others and not RouteStep.None) return $"the route has steps the front end does not take ({others})";
        // The front end reads headers only: a provider that reads a cookie, a query parameter or the client certificate is the pipeline's.
        if (snapshots.Current.RoutePolicies.GetValueOrDefault(route.Config.RouteId)?.Authentication is { } authentication
            && authentication.Providers.Any(p => providers.Get(p).CredentialHeader is null))
        {
            return "an authentication provider of the route reads a client certificate, a cookie or a query parameter";
        }
        if (metadata.GetMetadata<ForwarderChoice>() is not { Direct: true } choice) return "the route takes YARP's forwarder";
        if (choice.Tls is not null || choice.ReplacePrefix is not null || !choice.RequestHeaders.IsEmpty || !choice.ResponseHeaders.IsEmpty)
        {
            return "the route needs the direct path's own steps (TLS or header rules)";
        }
        var config = cluster.Model.Config;
        if (config.SessionAffinity?.Enabled == true) return "the cluster has session affinity";
        // Outlier detection is YARP's passive health (the step reads this); a mesh cluster is a step of its own (RouteSteps).
        if (config.HealthCheck?.Passive?.Enabled == true) return "the cluster has outlier detection";
        // The concurrency limit is a step of its own (RouteSteps); the pending-requests limit is a step after session affinity.
        if (snapshots.Current.ClusterPolicies.GetValueOrDefault(config.ClusterId) is not { CircuitBreaker: null }) return "the cluster has circuit breaking";
        if (string.Equals(config.LoadBalancingPolicy, Configuration.Compilation.PolicyNames.ConsistentHash, StringComparison.OrdinalIgnoreCase)) return "the cluster hashes requests to endpoints";
        return null;
    }
}

/// <summary>
/// Which route takes a request, for the direct front end: the answer of the gateway's own router (a synthetic request
/// through the routing step, as /admin/explain asks it), remembered per method, host and path for the config it was
/// made with. Under a config the front end cannot serve (<see cref="ConfigObstacle"/>: a route that matches on headers
/// or query parameters), <see cref="Current"/> is null and every request goes to Kestrel.
/// </summary>
internal sealed class FrontEndRoutes(RouteExplainer explainer, SnapshotAccessor snapshots, IEnumerable<ILoadBalancingPolicy> balancers, AuthenticationProviders providers)
{
    /// <summary>Past this many remembered requests per config, requests are routed each time (a path per user id, say).</summary>
    public const int MaxRemembered = 4096;

    private readonly Dictionary<string, ILoadBalancingPolicy> _balancers = balancers.GroupBy(b => b.Name, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.Last(), StringComparer.OrdinalIgnoreCase);
    private Table? _table;

    /// <summary>The table of the running config, or null when the front end serves nothing under that config.</summary>
    public Table? Current
    {
        get
        {
            var snapshot = snapshots.Current;
            var table = Volatile.Read(ref _table);
            if (table is not null && ReferenceEquals(table.Snapshot, snapshot)) return table.Usable ? table : null;
            table = new Table(snapshot, ConfigObstacle(snapshot) is null);
            Volatile.Write(ref _table, table);
            return table.Usable ? table : null;
        }
    }

    /// <summary>
    /// Why a config leaves every request to Kestrel's pipeline; null when the front end may serve. A route that matches on
    /// headers or query parameters would route one method, host and path two ways.
    /// </summary>
    public static string? ConfigObstacle(ConfigSnapshot snapshot)
    {
        if (snapshot.Routes.Any(r => r.Match.Headers is { Count: > 0 } || r.Match.QueryParameters is { Count: > 0 })
            || snapshot.RoutePolicies.Values.Any(p => p.HeaderRegexes.Count > 0))
        {
            return "a route matches on headers or query parameters";
        }
        return null;
    }

    /// <summary>For /admin/explain: whether the direct front end would serve a request with this method on this endpoint, and if not why.</summary>
    public static string Explain(Endpoint endpoint, string method, SnapshotAccessor snapshots, AuthenticationProviders providers)
    {
        var why = method is not ("GET" or "HEAD") ? "only GET and HEAD requests without a body take it"
            : ConfigObstacle(snapshots.Current) ?? FrontEndRoute.Obstacle(endpoint, snapshots, providers);
        return why is null
            ? "direct: served by the direct front end on HTTP/1.1 listeners with frontEnd: auto, except meshTls ones (a request without a body, headers the front end reads strictly, from a peer that is not a trusted proxy)"
            : "kestrel: " + why;
    }

    /// <summary>The route for a request, or null for one the front end does not serve; <paramref name="key"/> is method, host and path.</summary>
    public async ValueTask<FrontEndRoute?> RouteAsync(Table table, string key, string method, string host, string path, string listener)
    {
        var endpoint = await explainer.RouteAsync(new RouteExplainer.ExplainRequest(method, path, null, host, [], listener));
        FrontEndRoute? route = null;
        if (endpoint is not null && FrontEndRoute.Obstacle(endpoint, snapshots, providers) is null)
        {
            var model = endpoint.Metadata.GetMetadata<RouteModel>()!;
            var cluster = model.Cluster!;
            var policyName = cluster.Model.Config.LoadBalancingPolicy ?? LoadBalancingPolicies.PowerOfTwoChoices;
            // The policies of the table's snapshot: a reload that revokes a key makes a new table, routed afresh.
            route = new FrontEndRoute(model, cluster.ClusterId, (endpoint as RouteEndpoint)?.RoutePattern.RawText, cluster,
                endpoint.Metadata.GetMetadata<ForwarderChoice>()!, _balancers.GetValueOrDefault(policyName),
                table.Snapshot.RoutePolicies.GetValueOrDefault(model.Config.RouteId)?.Authentication, endpoint.Metadata.GetMetadata<RateLimiting.RouteRateLimit>(),
                endpoint.Metadata.GetMetadata<Resilience.RouteResilience>()?.Policy);
        }
        // An endpoint of an older config (YARP rebuilds them just after a swap) is not remembered.
        if (endpoint?.Metadata.GetMetadata<RouteSteps>() is not { } steps || steps.Holds(snapshots)) table.Remember(key, route);
        return route;
    }

    internal sealed class Table(ConfigSnapshot snapshot, bool usable)
    {
        // Looked up by the key's characters, made on the stack from the request's bytes: a string only for a new key.
        private readonly ConcurrentDictionary<string, FrontEndRoute?>.AlternateLookup<ReadOnlySpan<char>> _routes =
            new ConcurrentDictionary<string, FrontEndRoute?>(StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();

        public ConfigSnapshot Snapshot { get; } = snapshot;
        public bool Usable { get; } = usable;

        /// <summary>Whether the request was routed before: <paramref name="route"/> is then its route, or null for one the front end leaves to Kestrel.</summary>
        public bool TryGet(ReadOnlySpan<char> key, out FrontEndRoute? route) => _routes.TryGetValue(key, out route);

        public void Remember(string key, FrontEndRoute? route)
        {
            if (_routes.Dictionary.Count < MaxRemembered) _routes.Dictionary.TryAdd(key, route);
        }
    }
}
