using Meshgate.Configuration;
using Meshgate.Proxy.Errors;
using Meshgate.Proxy.ForwardedHeaders;
using Meshgate.Proxy.Resilience.CircuitBreaking;
using Meshgate.Proxy.Resilience.OutlierDetection;
using Meshgate.Proxy.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.Proxy.Pipeline;

/// <summary>
/// The order of the request path, in one place. A new concern takes a slot here and one line;
/// see STYLE.md section 5 for the slots still to be filled.
/// </summary>
public static class RequestPipeline
{
    /// <param name="listenerOf">The listener a request arrived on, for its limits; null when no listener sets any.</param>
    public static void UseMeshgateGateway(this WebApplication app, Func<HttpContext, ListenerPolicy?>? listenerOf)
    {
        // WebApplication puts ASP.NET Core's authorization middleware in front of every request when its
        // services are registered (YARP registers them) and the app did not place it. The gateway authorizes
        // in its own step (6) and gives YARP no authorization policies, so the framework's would only cost
        // each request an async frame (seen in an allocation profile). This is the marker UseAuthorization sets.
        ((IApplicationBuilder)app).Properties["__AuthorizationMiddlewareSet"] = true;

        // 2. Observability: the access log. Placed before step 1 so that it sees the final answer, the
        //    problem+json that step 1 writes for exceptions and failed forwards included, and every rejection after it.
        app.UseMiddleware<Observability.AccessLog.AccessLogMiddleware>();
        // 2. Observability: tracing. Decides the request's trace context (sampled or not) and starts the server span of a
        //    sampled request; the trace-id response header.
        var snapshots = app.Services.GetRequiredService<SnapshotAccessor>();
        var tracing = Observability.Tracing.TracingServiceCollectionExtensions.IsOn(snapshots);
        if (tracing) app.UseMiddleware<Observability.Tracing.TracingMiddleware>();

        // 1. Gateway-made errors become problem+json.
        app.UseMiddleware<GatewayErrorsMiddleware>();
        // 1b. Per-listener request limits Kestrel can only set process-wide.
        if (listenerOf is not null)
        {
            app.Use((context, next) => ListenerLimits.Apply(context, next, listenerOf(context)));
        }
        // 2. Request hygiene: framing and header checks a front proxy must make (edge security).
        app.UseMiddleware<RequestHygiene.RequestHygieneMiddleware>();

        // 2b. Mesh caller identity: x-forwarded-client-cert from the verified peer certificate, a client's own removed.
        //     Only in a process with a meshTls listener (the listeners are bound once, at start).
        if (Mesh.CallerIdentityMiddleware.IsOn(snapshots)) app.UseMiddleware<Mesh.CallerIdentityMiddleware>();

        // 3. Who the client is (trusted proxies only).
        app.UseMiddleware<ClientAddressMiddleware>();

        // 3b. Path normalization: the path that picks the route is the path the upstream receives (edge security).
        app.UseMiddleware<PathNormalizationMiddleware>();

        // /admin/explain enters here with a synthetic request, to be routed exactly as a real one.
        var explainEntry = app.Services.GetRequiredService<RouteExplainer.PipelineEntry>();
        app.Use(next =>
        {
            explainEntry.Next = next;
            return next;
        });

        // 4. Routing.
        app.UseRouting();
        // The step after slot 10, for a route none of slots 5a-10 acts on (RouteSteps); set as the pipeline is built.
        RequestDelegate? afterRouteSteps = null;
        app.Use((context, next) =>
        {
            // A synthetic request of /admin/explain: routing has set its endpoint in the explain feature; nothing more to do.
            var endpointFeature = context.Features.Get<IEndpointFeature>();
            if (endpointFeature is RouteExplainer.ExplainFeature) return Task.CompletedTask;
            var endpoint = endpointFeature?.Endpoint;
            if (endpoint is null)
            {
                return ProblemResponses.WriteAsync(context, StatusCodes.Status404NotFound, "No route", $"No route matches {context.Request.Method} {context.Request.Host}{context.Request.Path}.", "no-route");
            }
            // One metadata lookup for both uses below (each is a dictionary lookup by type).
            if (endpoint.Metadata.GetMetadata<Yarp.ReverseProxy.Model.RouteModel>() is not { } route) return next(context);
            // ASP.NET Core's request-duration metric (and everything that reads it: /metrics, the dashboard)
            // is labelled with the route id; the feature is only there while something listens.
            context.Features.Get<IHttpMetricsTagsFeature>()?.Tags.Add(new(MetricsTags.Route, route.Config.RouteId));
            if (tracing) Observability.Tracing.ServerSpan.NameAfterRoute(context, route);
            // Each of slots 5a-10 would look itself up on the endpoint and pass the request on (RouteSteps).
            return endpoint.Metadata.GetMetadata<RouteSteps>() is { SkipsRouteSteps: true } steps && steps.Holds(snapshots) ? afterRouteSteps!(context) : next(context);
        });

        // 5a. CORS: preflights answered here, per route (edge security).
        // Only for routes with a CORS policy: ASP.NET Core's CORS middleware resolves its policy provider from
        // the request's services and writes HttpContext.Items on every request it sees, which made every
        // route pay for a service scope and an Items dictionary.
        app.UseWhen(static context => context.GetEndpoint()?.Metadata.GetMetadata<Microsoft.AspNetCore.Cors.Infrastructure.ICorsMetadata>() is not null, static cors => Cors.CorsEndpoints.UseMeshgateCors(cors));
        app.UseMiddleware<Cors.UpstreamCorsHeadersMiddleware>();

        // 5b. Authentication: the route's providers, any of them (edge security).
        app.UseMiddleware<Authentication.AuthenticationMiddleware>();

        // 6. Authorization: the route's rules (edge security).
        app.UseMiddleware<Authorization.AuthorizationMiddleware>();

        // 7. Rate limiting: the route's policy, keyed by client, consumer, claim, header or route.
        app.UseMiddleware<RateLimiting.RateLimitingMiddleware>();

        // 8. Request timeout: the route's deadline (resilience timeout) covers every attempt and retry wait.
        app.UseMiddleware<Resilience.Timeouts.RequestDeadlineMiddleware>();

        // 9. Response cache (RFC 9111): fresh hits answered here; misses stored while they stream to the client.
        app.UseMiddleware<Caching.ResponseCacheMiddleware>();

        // 10. Fault injection: the route's injected delays and aborts; outside retries, so an abort is not retried.
        app.UseMiddleware<FaultInjection.FaultInjectionMiddleware>();
        app.Use(next => afterRouteSteps = next);

        // 11. YARP's proxy pipeline.
        var meshDiscovery = Mesh.Discovery.MeshDiscoveryServiceCollectionExtensions.IsOn(snapshots);
        // Made before YARP reads its first config, so mesh clusters take their destinations from the directory from the start.
        if (meshDiscovery) app.Services.GetRequiredService<Mesh.Discovery.MeshDirectory>();
        app.MapReverseProxy(proxy =>
        {
            // A route none of the steps up to session affinity acts on goes straight there (RouteSteps).
            RequestDelegate? atAffinity = null;
            proxy.Use((context, next) => context.GetEndpoint()?.Metadata.GetMetadata<RouteSteps>() is { SkipsProxySteps: true } steps && steps.Holds(snapshots)
                ? atAffinity!(context)
                : next(context));
            proxy.UseMiddleware<TrafficSplit.TrafficSplitMiddleware>();
            // The server span's cluster tag: the one the split picked.
            if (tracing) proxy.Use(Observability.Tracing.ServerSpan.TagClusterAsync);
            // Mesh discovery: a mesh cluster without instances answers 503 saying why (no snapshot yet, or none live).
            if (meshDiscovery) proxy.UseMiddleware<Mesh.Discovery.MeshAvailabilityMiddleware>();
            proxy.UseMiddleware<Mirroring.MirrorMiddleware>();
            // Retries wrap what follows, so each attempt balances, counts and fails over like a first one.
            proxy.UseMiddleware<Resilience.ResilienceMiddleware>();
            // Circuit breaking: the cluster's maxConcurrentRequests, per attempt (fail fast, no queue).
            proxy.UseConcurrentRequestsLimit();
            proxy.Use(next => atAffinity = next);
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            // Circuit breaking: the chosen endpoint's maxPendingRequests; a refused attempt never reaches
            // outlier detection, which is YARP's passive health step below.
            proxy.UsePendingRequestsLimit();
            proxy.UseMeshgatePassiveHealth();
            // The direct HTTP/1.1 upstream path: forwards the routes it can serve itself (timing each attempt for the access
            // log and the metrics), hands the rest to YARP's forwarder.
            proxy.UseMiddleware<Upstream.Http1.Http1Forwarder>();
            // Around YARP's forwarder: one upstream attempt per forward, for the access log and the metrics.
            proxy.UseMiddleware<Observability.AccessLog.UpstreamAttempts>();
        }).ConfigureEndpoints((endpoint, route) =>
        {
            // One snapshot for every decision about this endpoint (RouteSteps is only good while it is the current one).
            var snapshot = snapshots.Current;
            var policy = snapshot.RoutePolicies.GetValueOrDefault(route.RouteId);
            Cors.CorsEndpoints.Apply(endpoint, route, policy);
            Resilience.ResilienceServiceCollectionExtensions.ApplyToEndpoint(endpoint, policy, app.Services);
            Mesh.Discovery.MeshDiscoveryServiceCollectionExtensions.ApplyToEndpoint(endpoint, route, policy, app.Services, snapshot);
            RateLimiting.RateLimitingServiceCollectionExtensions.ApplyToEndpoint(endpoint, policy, app.Services, snapshot);
            Caching.CachingServiceCollectionExtensions.ApplyToEndpoint(endpoint, policy, app.Services);
            endpoint.WithMetadata(Upstream.Http1.ForwarderChoice.Decide(snapshot, route.RouteId, route.ClusterId ?? "", app.Services.GetRequiredService<Upstream.UpstreamTlsPolicies>()));
            if (policy is not null)
            {
                if (policy.HeaderRegexes.Count > 0) endpoint.WithMetadata(new HeaderRegexMetadata(policy.HeaderRegexes));
                if (policy.Listeners is { } listeners) endpoint.WithMetadata(new ListenerMatchMetadata(listeners));
                if (policy.Authorization is { } authorization) endpoint.WithMetadata(authorization);
                if (policy.Split is { } split) endpoint.WithMetadata(split);
                if (policy.Mirror is { } mirror) endpoint.WithMetadata(mirror);
                if (policy.Faults is { } faults) endpoint.WithMetadata(faults);
            }
            // Last: it reads the metadata the steps would find.
            endpoint.Add(builder => builder.Metadata.Add(RouteSteps.For(builder, snapshot, route.RouteId, route.ClusterId, tracing)));
        });
    }
}
