using System.Net;
using Meshgate.Configuration;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Routing;

/// <summary>
/// Answers "which route would take this request, and why not the others". The winner comes from the
/// real router (a synthetic request goes through the gateway's own routing step), so the answer can
/// never disagree with what traffic does; the per-route reasons come from checking each condition.
/// </summary>
public sealed class RouteExplainer(RouteExplainer.PipelineEntry entry, SnapshotAccessor snapshots, IServiceProvider services)
{
    /// <summary>The gateway pipeline from the routing step on; set when the pipeline is built.</summary>
    public sealed class PipelineEntry
    {
        public RequestDelegate? Next { get; set; }
    }

    /// <summary>
    /// Marks a synthetic request: the routing step stops after routing has set the endpoint, here. It is the request's
    /// <see cref="IEndpointFeature"/> as well, so the routing step tells a synthetic request from traffic with the endpoint
    /// lookup it makes anyway; a lookup of this type would miss on every real request, and a missed feature costs Kestrel a
    /// search of its extra features and the connection's.
    /// </summary>
    internal sealed class ExplainFeature : IEndpointFeature
    {
        public Endpoint? Endpoint { get; set; }

        /// <summary>The listener the request is taken to arrive on: a synthetic request has no connection to tell.</summary>
        public string? Listener { get; init; }
    }

    /// <param name="Listener">The listener's name, for routes kept to listeners (<c>match.listeners</c>); null for none in particular.</param>
    public sealed record ExplainRequest(string Method, string Path, string? Query, string? Host, IReadOnlyList<KeyValuePair<string, string>> Headers, string? Listener = null);

    public sealed record RouteVerdict(string Id, int Order, bool Matches, IReadOnlyList<string> Reasons);

    public sealed record EndpointView(string Address, int Weight, string Health, int ActiveRequests);

    public sealed record Explanation(
        ExplainRequest Request,
        string? Route,
        string Summary,
        IReadOnlyList<RouteVerdict> Routes,
        string? Cluster,
        IReadOnlyDictionary<string, object>? Policies,
        IReadOnlyList<EndpointView>? Endpoints);

    public async Task<Explanation> ExplainAsync(ExplainRequest request)
    {
        var endpoint = await RouteAsync(request);
        var routeModel = endpoint?.Metadata.GetMetadata<RouteModel>();
        var snapshot = snapshots.Current;
        var definitions = snapshot.Definition.Routes;

        var ranked = definitions
            .Select(d => (Definition: d, Template: snapshot.Routes.First(r => r.RouteId == d.Id).Match.Path!))
            .OrderBy(r => r.Definition.Order)
            .ThenBy(r => RoutePrecedence.ComputeInbound(TemplateParser.Parse(r.Template)))
            .ToList();

        var verdicts = new List<RouteVerdict>();
        var chosenId = routeModel?.Config.RouteId;
        var seenWinner = false;
        foreach (var (definition, template) in ranked)
        {
            var reasons = Check(definition, template, request);
            var isWinner = string.Equals(definition.Id, chosenId, StringComparison.OrdinalIgnoreCase);
            if (isWinner) reasons.Insert(0, "selected: every condition holds and no earlier route matches");
            else if (reasons.Count == 0) reasons.Add(seenWinner ? $"also matches, but '{chosenId}' comes first (lower order or more specific path)" : "matches");
            verdicts.Add(new RouteVerdict(definition.Id!, definition.Order, isWinner || reasons.All(r => r.StartsWith("also matches", StringComparison.Ordinal) || r == "matches"), reasons));
            seenWinner |= isWinner;
        }

        if (routeModel is null)
        {
            var summary = endpoint is null
                ? "no route matches: the gateway would answer 404"
                : $"a route's path matches but none allows {request.Method.ToUpperInvariant()}: the gateway would answer 405";
            return new Explanation(request, null, summary, verdicts, null, null, null);
        }

        var definitionOfChosen = definitions.First(d => string.Equals(d.Id, chosenId, StringComparison.OrdinalIgnoreCase));
        var cluster = routeModel.Cluster;
        var policies = new Dictionary<string, object>
        {
            ["loadBalancing"] = cluster?.Model.Config.LoadBalancingPolicy ?? "",
            ["transforms"] = snapshot.Routes.First(r => r.RouteId == chosenId).Transforms ?? [],
        };
        if (definitionOfChosen.Auth is { } auth) policies["authentication"] = definitionOfChosen.Anonymous ? $"{string.Join(", ", auth)} (anonymous allowed)" : string.Join(", ", auth);
        if (definitionOfChosen.Authorization is { } authorization) policies["authorization"] = authorization;
        if (definitionOfChosen.Cors is { } cors) policies["cors"] = cors;
        if (definitionOfChosen.Transforms?.ReplacePrefix is { } replace) policies["replacePrefix"] = $"{replace.From} -> {replace.To}";
        if (definitionOfChosen.Split is { } split)
        {
            var total = split.Sum(s => (double)s.Weight);
            policies["split"] = string.Join(", ", split.Select(s => $"{s.Cluster} {(total > 0 ? s.Weight * 100 / total : 0):0.##}%"))
                + (definitionOfChosen.SplitBy is { } by ? $", sticky by {(by.Header is not null ? "header " + by.Header : "cookie " + by.Cookie)}" : ", random per request")
                + (definitionOfChosen.SplitOverride is { } over ? $", override by header {over.Header}" : "");
        }
        if (definitionOfChosen.Mirror is { } mirror) policies["mirror"] = $"{mirror.Percent:0.##}% copied to cluster {mirror.Cluster}" + (mirror.Compare ? ", answers compared" : "");
        if (definitionOfChosen.Faults is { } faults)
        {
            var parts = new List<string>();
            if (faults.Delay is { } delay) parts.Add($"delay {delay.Duration} for {delay.Percent:0.##}%");
            if (faults.Abort is { } abort) parts.Add($"abort with {abort.Status} for {abort.Percent:0.##}%");
            policies["faults"] = string.Join(", ", parts) + (faults.Header is { } header ? $" of requests with header {header}" : " of requests");
        }
        if (endpoint?.Metadata.GetMetadata<Upstream.Http1.ForwarderChoice>() is { } forwarder)
        {
            IHeaderDictionary headers = new HeaderDictionary();
            foreach (var (name, value) in request.Headers) headers.Append(name, value);
            policies["forwarder"] = forwarder.Direct && Upstream.Http1.ForwarderChoice.YarpOnly(request.Method.ToUpperInvariant(), headers.Upgrade, headers.ContentType) is { } why
                ? "yarp: " + why
                : forwarder.Reason;
        }
        if (endpoint is not null) policies["frontEnd"] = FrontEnd.FrontEndRoutes.Explain(endpoint, request.Method.ToUpperInvariant(), snapshots,
            services.GetRequiredService<Authentication.AuthenticationProviders>());
        if (cluster is not null)
        {
            var contentType = request.Headers.FirstOrDefault(h => string.Equals(h.Key, "Content-Type", StringComparison.OrdinalIgnoreCase)).Value;
            policies["upstreamProtocol"] = Transforms.GrpcOverH2cTransform.Describe(cluster.Model.Config, contentType);
        }
        if (cluster?.Model.Config.HealthCheck?.Active is { Enabled: true } active) policies["activeHealthCheck"] = $"GET {active.Path} every {active.Interval}";
        if (cluster?.Model.Config.HealthCheck?.Passive is { Enabled: true } passive) policies["outlierDetection"] = "on";

        var endpoints = cluster?.Destinations.Values.Select(DescribeDestination).ToList();
        var available = cluster?.DestinationsState.AvailableDestinations.Count ?? 0;
        var target = definitionOfChosen.Split is { } shares
            ? $"splits it between clusters {string.Join(", ", shares.Select(s => $"'{s.Cluster}'"))} (endpoints shown: '{cluster?.ClusterId}', {available} of {endpoints?.Count ?? 0} available)"
            : $"forwards to cluster '{cluster?.ClusterId}' ({available} of {endpoints?.Count ?? 0} endpoints available)";
        return new Explanation(request, chosenId, $"route '{chosenId}' takes it and {target}",
            verdicts, cluster?.ClusterId, policies, endpoints);
    }

    public static EndpointView DescribeDestination(DestinationState destination)
    {
        var health = destination.Health;
        var verdict = (health.Active, health.Passive) switch
        {
            (DestinationHealth.Unhealthy, _) => "unhealthy (active check)",
            (_, DestinationHealth.Unhealthy) => "ejected (outlier detection)",
            (DestinationHealth.Healthy, _) => "healthy",
            _ => "unknown (not checked)",
        };
        var weight = destination.Model.Config.Metadata?.TryGetValue(Configuration.Compilation.MetadataKeys.Weight, out var w) == true ? int.Parse(w, System.Globalization.CultureInfo.InvariantCulture) : 1;
        return new EndpointView(destination.Model.Config.Address, weight, verdict, destination.ConcurrentRequestCount);
    }

    internal async Task<Endpoint?> RouteAsync(ExplainRequest request)
    {
        var next = entry.Next ?? throw new InvalidOperationException("the gateway pipeline is not built yet");
        var context = new DefaultHttpContext { RequestServices = services };
        context.Request.Method = request.Method.ToUpperInvariant();
        context.Request.Scheme = "http";
        context.Request.Path = new PathString(request.Path);
        if (!string.IsNullOrEmpty(request.Query)) context.Request.QueryString = new QueryString(request.Query.StartsWith('?') ? request.Query : "?" + request.Query);
        if (request.Host is { } host) context.Request.Host = new HostString(host);
        foreach (var (name, value) in request.Headers) context.Request.Headers.Append(name, value);
        context.Connection.RemoteIpAddress = IPAddress.Loopback;
        var feature = new ExplainFeature { Listener = request.Listener };
        context.Features.Set(feature);
        context.Features.Set<IEndpointFeature>(feature);
        await next(context);
        return feature.Endpoint;
    }

    private static List<string> Check(RouteDefinition route, string template, ExplainRequest request)
    {
        var reasons = new List<string>();
        var match = route.Match!;
        var matcher = new TemplateMatcher(TemplateParser.Parse(template), new RouteValueDictionary());
        if (!matcher.TryMatch(new PathString(request.Path), new RouteValueDictionary()))
        {
            reasons.Add(match.PathPrefix is { } prefix ? $"path '{request.Path}' does not start with prefix '{prefix}'" : $"path '{request.Path}' does not match '{match.Path}'");
        }
        if (match.Methods is { } methods && !methods.Contains(request.Method, StringComparer.OrdinalIgnoreCase))
        {
            reasons.Add($"method {request.Method.ToUpperInvariant()} is not one of {string.Join(", ", methods)}");
        }
        if (match.Hosts is { } hosts && !hosts.Any(h => HostMatches(h, request.Host)))
        {
            reasons.Add($"host '{request.Host ?? "(none)"}' is not one of {string.Join(", ", hosts)}");
        }
        if (match.Listeners is { } listeners && !listeners.Contains(request.Listener ?? "", StringComparer.OrdinalIgnoreCase))
        {
            reasons.Add(request.Listener is null
                ? $"only takes requests on listener {string.Join(", ", listeners)}: add listener=NAME to explain a request arriving there"
                : $"listener '{request.Listener}' is not one of {string.Join(", ", listeners)}");
        }
        var headers = new HeaderDictionary();
        foreach (var (name, value) in request.Headers) headers.Append(name, value);
        foreach (var header in match.Headers ?? [])
        {
            if (HeaderReason(header, headers[header.Name!]) is { } reason) reasons.Add(reason);
        }
        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(request.Query);
        foreach (var q in match.Query ?? [])
        {
            if (QueryReason(q, query.TryGetValue(q.Name!, out var v) ? v : StringValues.Empty) is { } reason) reasons.Add(reason);
        }
        return reasons;
    }

    private static bool HostMatches(string pattern, string? host)
    {
        if (host is null) return false;
        var (patternName, patternPort) = SplitPort(pattern);
        var (hostName, hostPort) = SplitPort(host);
        if (patternPort is not null && patternPort != hostPort) return false;
        return patternName.StartsWith("*.", StringComparison.Ordinal)
            ? hostName.EndsWith(patternName[1..], StringComparison.OrdinalIgnoreCase) && hostName.Length > patternName.Length - 1
            : string.Equals(patternName, hostName, StringComparison.OrdinalIgnoreCase);
    }

    private static (string Name, string? Port) SplitPort(string host)
    {
        var colon = host.LastIndexOf(':');
        return colon > 0 && !host.EndsWith(']') ? (host[..colon], host[(colon + 1)..]) : (host, null);
    }

    private static string? HeaderReason(HeaderMatchDefinition header, StringValues values)
    {
        var comparison = header.CaseSensitive ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        var name = header.Name;
        if (header.Present) return values.Count > 0 ? null : $"header {name} is required but absent";
        if (header.Absent) return values.Count == 0 ? null : $"header {name} must be absent but is present";
        if (values.Count == 0) return $"header {name} is absent";
        if (header.Exact is { } exact) return values.Any(v => exact.Any(e => string.Equals(v, e, comparison))) ? null : $"header {name} is '{values}', not one of {string.Join(", ", exact)}";
        if (header.Prefix is { } prefix) return values.Any(v => prefix.Any(p => v!.StartsWith(p, comparison))) ? null : $"header {name} '{values}' does not start with {string.Join(" or ", prefix)}";
        if (header.Regex is { } regex)
        {
            var compiled = new System.Text.RegularExpressions.Regex(regex, header.CaseSensitive ? default : System.Text.RegularExpressions.RegexOptions.IgnoreCase, TimeSpan.FromMilliseconds(50));
            return values.Any(v => compiled.IsMatch(v!)) ? null : $"header {name} '{values}' does not match /{regex}/";
        }
        return null;
    }

    private static string? QueryReason(QueryMatchDefinition q, StringValues values)
    {
        var comparison = q.CaseSensitive ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        if (values.Count == 0) return $"query parameter {q.Name} is absent";
        if (q.Present) return null;
        if (q.Exact is { } exact) return values.Any(v => exact.Any(e => string.Equals(v, e, comparison))) ? null : $"query parameter {q.Name} is '{values}', not one of {string.Join(", ", exact)}";
        if (q.Prefix is { } prefix) return values.Any(v => prefix.Any(p => v!.StartsWith(p, comparison))) ? null : $"query parameter {q.Name} '{values}' does not start with {string.Join(" or ", prefix)}";
        if (q.Contains is { } contains) return values.Any(v => contains.Any(c => v!.Contains(c, comparison))) ? null : $"query parameter {q.Name} '{values}' does not contain {string.Join(" or ", contains)}";
        return null;
    }
}
