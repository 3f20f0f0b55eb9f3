using System.Security.Cryptography;
using System.Text;
using Meshgate.Admin.Api.ConfigWrites;
using Meshgate.Admin.Dashboard;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Errors;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Resilience.CircuitBreaking;
using Meshgate.Proxy.Resilience.OutlierDetection;
using Meshgate.Proxy.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Admin.Api;

/// <summary>
/// The admin API, on its own listener. It reads gateway state through the snapshot, the reloader,
/// YARP's state lookup and the explainer; it never reaches into middleware.
/// </summary>
public static class AdminApi
{
    /// <summary>Services the admin app borrows from the gateway app.</summary>
    /// <param name="CircuitBreakers">Circuit-breaker counters per cluster; null shows none.</param>
    /// <param name="OutlierDetection">Ejections per endpoint; null shows none.</param>
    public sealed record GatewayServices(SnapshotAccessor Snapshots, ConfigReloader Reloader, IProxyStateLookup ProxyState, RouteExplainer Explainer, Func<bool> Ready,
        ICircuitBreakerState? CircuitBreakers = null, IOutlierDetectionState? OutlierDetection = null)
    {
        /// <summary>Mirror counts per route, shown in /admin/routes; null leaves them out.</summary>
        public Proxy.Mirroring.MirrorStatistics? Mirroring { get; init; }

        /// <summary>The access log's queue and counters; null shows the log as unavailable.</summary>
        public Proxy.Observability.AccessLog.AccessLogQueue? AccessLog { get; init; }

        /// <summary>The response cache, for GET /admin/cache and POST /admin/cache/purge; null answers 404 there.</summary>
        public Proxy.Caching.ICacheState? Caches { get; init; }

        /// <summary>Rate-limit policies, the Redis store's health and a key's standing; null shows none.</summary>
        public Proxy.RateLimiting.IRateLimitState? RateLimits { get; init; }

        /// <summary>The gateway's meter provider, whose Prometheus exporter GET /metrics reads; null when metrics are off.</summary>
        public OpenTelemetry.Metrics.MeterProvider? Metrics { get; init; }

        /// <summary>Live per-route figures for /admin/stats and the dashboard; null answers 404 there.</summary>
        public Proxy.Observability.LiveStatistics.RouteStatistics? Statistics { get; init; }

        /// <summary>Where config writes (PUT/DELETE of routes, clusters, policies) are kept; null keeps them in memory only.</summary>
        public Configuration.Sources.IConfigStore? ConfigStore { get; init; }

        /// <summary>A watched config source (etcd) and whether this node is in sync with it; null for a file or no source.</summary>
        public Configuration.Sources.IConfigSourceStatus? ConfigSource { get; init; }

        /// <summary>This node's part in config canaries, for GET /admin/canary; null (no etcd) answers 404 there.</summary>
        public Configuration.Sources.Etcd.Canary.CanaryNode? Canary { get; init; }
    }

    /// <summary>The body of POST /admin/cache/purge: exactly one of the three.</summary>
    public sealed record PurgeRequest(string? Url, string? Prefix, string? SurrogateKey);

    public static void MapMeshgateAdmin(this WebApplication app, GatewayServices gateway)
    {
        var audit = new ConfigWriteAudit(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(ConfigWriteAudit.Category));
        var store = gateway.ConfigStore ?? new Configuration.Sources.MemoryConfigStore(
            Configuration.Parsing.ConfigWriter.Write(gateway.Snapshots.Current.Definition), gateway.Snapshots.Current.Version, Directory.GetCurrentDirectory());
        app.Use((context, next) => Authorize(context, next, gateway.Snapshots, audit));
        app.UseRouting();
        app.MapMeshgateDashboard();
        app.Use((context, next) => context.GetEndpoint() is not null ? next(context) : ProblemResponses.WriteAsync(context, StatusCodes.Status404NotFound, "Not found",
            "Admin endpoints: /admin/health/live, /admin/health/ready, /admin/config, /admin/config/status, /admin/routes, /admin/clusters, GET/PUT/DELETE /admin/routes/{id}, /admin/clusters/{id} and /admin/policies/{section}/{name}, /admin/explain, /admin/accesslog, /admin/ratelimits, /admin/ratelimits/{policy}/{key}, /admin/cache, /admin/stats, /admin/canary, /admin/dashboard, POST /admin/reload, POST /admin/cache/purge, /metrics", "not-found"));

        // Prometheus text format; behind the admin token like the rest (a scrape config sets it as bearer token).
        if (gateway.Metrics is { } meterProvider)
        {
            app.MapPrometheusScrapingEndpoint("/metrics", meterProvider, configureBranchedPipeline: null, optionsName: null);
        }
        else
        {
            app.MapGet("/metrics", () => Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Metrics are off",
                detail: "The gateway started with metrics.enabled: false; set it to true and restart to serve /metrics."));
        }

        var admin = app.MapGroup("/admin");
        admin.MapGet("/health/live", () => Results.Ok(new HealthView("live")));
        // Out of sync with etcd is not "not ready": every node loses etcd at once, and taking them all out of the
        // balancer would stop traffic that their last good config serves well. The body says it instead.
        admin.MapGet("/health/ready", () => gateway.Ready()
            ? Results.Ok(new HealthView("ready", gateway.ConfigSource is { } source ? SourceView(source) : null))
            : AdminJsonContext.Json(new HealthView("not ready"), StatusCodes.Status503ServiceUnavailable));

        admin.MapGet("/config", (HttpContext context) =>
        {
            var snapshot = gateway.Snapshots.Current;
            context.Response.Headers.ETag = ConfigWriteEndpoints.ETagOf(snapshot.Version);
            return Results.Text(DefinitionJson.ToJson(snapshot.Definition)!.ToJsonString(), "application/json");
        });
        admin.MapGet("/config/status", (HttpContext context) =>
        {
            var status = gateway.Reloader.Status;
            context.Response.Headers.ETag = ConfigWriteEndpoints.ETagOf(status.Version);
            return Results.Ok(StatusView(status, gateway.Reloader.History, gateway.ConfigSource));
        });
        admin.MapConfigWrites(gateway, new ConfigObjectWriter(gateway.Reloader, store), audit);
        Canary.CanaryEndpoints.MapCanary(admin, gateway.Canary);
        admin.MapGet("/stats", () => gateway.Statistics is { } statistics ? Results.Ok(statistics.View()) : Results.NotFound());
        admin.MapPost("/reload", async (HttpContext context) =>
        {
            var status = await gateway.Reloader.ReloadAsync("admin API", context.RequestAborted);
            var view = StatusView(status);
            return status.LastErrors.Count == 0 ? Results.Ok(view) : AdminJsonContext.Json(view, StatusCodes.Status422UnprocessableEntity);
        });

        admin.MapGet("/cache", () => gateway.Caches is { } caches ? Results.Ok(caches.View()) : Results.NotFound());
        admin.MapPost("/cache/purge", async (PurgeRequest? body) =>
        {
            if (gateway.Caches is not { } caches) return Results.NotFound();
            var given = new[] { body?.Url, body?.Prefix, body?.SurrogateKey }.Count(v => !string.IsNullOrEmpty(v));
            if (given != 1)
            {
                return Results.Problem(title: "Bad purge request", statusCode: StatusCodes.Status400BadRequest,
                    detail: "Give exactly one of url (http://host/path?query), prefix (http://host/path) or surrogateKey, as JSON.");
            }
            try
            {
                var purged = body!.Url is { } url ? await caches.PurgeUrlAsync(url) : body.Prefix is { } prefix ? await caches.PurgePrefixAsync(prefix) : await caches.PurgeSurrogateKeyAsync(body.SurrogateKey!);
                return Results.Ok(new CachePurgeView(purged));
            }
            catch (Proxy.Caching.CacheStoreUnavailableException e)
            {
                // The memory stores were purged; the shared one was not, so the operator must try again.
                return Results.Problem(title: "Cache store unavailable", statusCode: StatusCodes.Status503ServiceUnavailable, detail: e.Message);
            }
        });

        admin.MapGet("/routes", (HttpContext context) =>
        {
            var snapshot = gateway.Snapshots.Current;
            context.Response.Headers.ETag = ConfigWriteEndpoints.ETagOf(snapshot.Version);
            return Results.Ok(snapshot.Definition.Routes.Select(r => new RouteView(
                r.Id,
                r.Order,
                r.Cluster,
                DefinitionJson.ToJson(r.Split),
                DefinitionJson.ToJson(r.Match),
                DefinitionJson.ToJson(r.Transforms),
                r.Mirror is null ? null : new RouteMirrorView(r.Mirror.Cluster, r.Mirror.Percent, r.Mirror.Compare,
                    gateway.Mirroring?.Find(r.Id!)?.View() ?? new Proxy.Mirroring.MirrorRouteCounts(r.Id!).View()),
                DefinitionJson.ToJson(r.Faults))).ToList());
        });

        admin.MapGet("/clusters", () => Results.Ok(gateway.ProxyState.GetClusters().OrderBy(c => c.ClusterId).Select(c => new ClusterView(
            c.ClusterId,
            c.Model.Config.LoadBalancingPolicy,
            c.DestinationsState.AvailableDestinations.Count,
            c.Destinations.Values.Select(RouteExplainer.DescribeDestination),
            CircuitBreakerOf(gateway, c.ClusterId),
            OutlierDetectionOf(gateway, c))).ToList()));

        admin.MapGet("/accesslog", () =>
        {
            var policy = gateway.Snapshots.Current.AccessLog;
            var counters = gateway.AccessLog?.Counters;
            return Results.Ok(new AccessLogView(policy is not null, policy?.Output, policy?.SampleSuccesses,
                counters?.QueueCapacity, counters?.Queued, counters?.Written, counters?.Dropped, counters?.SampledOut, counters?.WriteErrors));
        });

        admin.MapGet("/ratelimits", () => Results.Ok(new RateLimitsView(gateway.RateLimits?.Store(), gateway.RateLimits?.Policies() ?? [])));
        admin.MapGet("/ratelimits/{policy}/{**key}", async (string policy, string key) =>
            gateway.RateLimits is { } limits && await limits.KeyAsync(policy, Uri.UnescapeDataString(key)) is { } view
                ? Results.Ok(view)
                : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such rate-limit policy", detail: $"No route uses a rate-limit policy named '{policy}'."));

        admin.MapGet("/explain", async (HttpContext context) =>
        {
            var query = context.Request.Query;
            if (string.IsNullOrEmpty(query["path"]))
            {
                await ProblemResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "Missing path", "Give at least path, e.g. /admin/explain?method=GET&path=/orders/7&host=api.example.com&header=x-tenant:blue", "bad-request");
                return;
            }
            var path = query["path"].ToString();
            var queryString = "";
            var q = path.IndexOf('?');
            if (q >= 0) (path, queryString) = (path[..q], path[q..]);
            if (!path.StartsWith('/'))
            {
                await ProblemResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "Bad path", $"path must start with '/': '{path}'", "bad-request");
                return;
            }
            var headers = new List<KeyValuePair<string, string>>();
            foreach (var header in query["header"])
            {
                var colon = header!.IndexOf(':');
                if (colon <= 0)
                {
                    await ProblemResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "Bad header", $"header must be name:value, got '{header}'", "bad-request");
                    return;
                }
                headers.Add(new(header[..colon].Trim(), header[(colon + 1)..].Trim()));
            }
            var listener = query["listener"].FirstOrDefault();
            var listenerNames = gateway.Snapshots.Current.Definition.Listeners.Select(l => l.Name).OfType<string>().ToList();
            if (listener is not null && !listenerNames.Contains(listener, StringComparer.OrdinalIgnoreCase))
            {
                await ProblemResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "Unknown listener",
                    $"no listener is named '{listener}'; named listeners: {(listenerNames.Count == 0 ? "none" : string.Join(", ", listenerNames))}", "bad-request");
                return;
            }
            var request = new RouteExplainer.ExplainRequest(query["method"].FirstOrDefault() ?? "GET", path, queryString, query["host"].FirstOrDefault(), headers, listener);
            await Results.Ok(await gateway.Explainer.ExplainAsync(request)).ExecuteAsync(context);
        });
    }

    /// <summary>The cluster's limits, requests in flight and refusals per limit; null when it sets no limits.</summary>
    private static CircuitBreakerView? CircuitBreakerOf(GatewayServices gateway, string clusterId)
    {
        if (gateway.Snapshots.Current.ClusterPolicies.GetValueOrDefault(clusterId)?.CircuitBreaker is not { } limits) return null;
        var counters = gateway.CircuitBreakers?.DescribeCircuit(clusterId);
        return new CircuitBreakerView(
            new CircuitBreakerLimitsView(limits.MaxConcurrentRequests, limits.MaxPendingRequests, limits.MaxConnectionsPerEndpoint),
            counters?.ActiveRequests ?? 0,
            new CircuitBreakerRejectionsView(counters?.RejectedMaxConcurrentRequests ?? 0, counters?.RejectedMaxPendingRequests ?? 0));
    }

    /// <summary>Which endpoints are ejected until when, and every endpoint's ejection multiplier; null when the cluster has no outlierDetection.</summary>
    private static OutlierDetectionView? OutlierDetectionOf(GatewayServices gateway, ClusterState cluster)
    {
        if (gateway.Snapshots.Current.ClusterPolicies.GetValueOrDefault(cluster.ClusterId)?.OutlierDetection is null) return null;
        var endpoints = cluster.Destinations.Values
            .Select(d => (Destination: d, Ejection: gateway.OutlierDetection?.DescribeEjection(cluster, d)))
            .Where(e => e.Ejection is not null)
            .Select(e => new EjectedEndpointView(e.Destination.Model.Config.Address, e.Ejection!.EjectedUntil, e.Ejection.Ejections, e.Ejection.LastReason))
            .ToList();
        return new OutlierDetectionView(endpoints.Count(e => e.EjectedUntil is not null), endpoints);
    }

    private static ConfigSourceView SourceView(Configuration.Sources.IConfigSourceStatus source) =>
        new(source.Source, source.NotSyncedReason is null, source.NotSyncedReason, source.LastSyncAt, Math.Round(source.Stale.TotalSeconds, 1));

    private static ConfigStatusView StatusView(ConfigStatus status, IReadOnlyList<ReloadAttempt>? history = null, Configuration.Sources.IConfigSourceStatus? source = null) => new(
        source is null ? null : SourceView(source),
        status.Version,
        // The same value: the revision that config writes send back in If-Match.
        status.Version,
        status.Generation,
        status.LoadedAt,
        status.LastAttemptAt,
        status.LastTrigger,
        status.LastErrors.Count == 0,
        status.LastErrors.Select(e => e.ToString()),
        status.RestartRequired,
        history?.Reverse().Select(a => new ReloadAttemptView(a.At, a.Trigger, a.Applied, a.Version, a.Errors.Select(e => e.ToString()))));

    private static Task Authorize(HttpContext context, RequestDelegate next, SnapshotAccessor snapshots, ConfigWriteAudit audit)
    {
        // Probes stay open so an orchestrator needs no token, and so do the dashboard's static files (they hold
        // no data, and a browser cannot send a bearer header when it navigates); everything else needs it when one is set.
        if (snapshots.Current.Admin.Token is not { } token || context.Request.Path.StartsWithSegments("/admin/health") || context.Request.Path.StartsWithSegments(Dashboard.DashboardEndpoints.Path))
        {
            return next(context);
        }
        var header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim())), SHA256.HashData(Encoding.UTF8.GetBytes(token))))
        {
            return next(context);
        }
        if (ConfigWriteEndpoints.IsWrite(context.Request)) audit.Write(context, ConfigWriteEndpoints.TargetOf(context.Request), "unauthorized", snapshots.Current.Version, null);
        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"meshgate-admin\"";
        return ProblemResponses.WriteAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized", "The admin API needs 'Authorization: Bearer <token>' with the configured admin token.", "admin-unauthorized");
    }
}
