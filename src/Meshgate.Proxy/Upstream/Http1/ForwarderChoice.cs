using Meshgate.Configuration;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Transforms;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// Endpoint metadata: which forwarder a route's requests take, decided once per (route, cluster) when the
/// endpoints are built, with the reason /admin/explain shows; and, for the direct path, the route's request and
/// response rules compiled for it. Requests that only YARP can forward (upgrades, gRPC) still go to YARP, per request
/// (see <see cref="TakesRequest"/>).
/// </summary>
internal sealed class ForwarderChoice
{
    private ForwarderChoice(string clusterId, bool direct, string reason)
    {
        ClusterId = clusterId;
        Direct = direct;
        Reason = reason;
    }

    public string ClusterId { get; }

    /// <summary>Whether the route's requests take the direct HTTP/1.1 path.</summary>
    public bool Direct { get; }

    /// <summary>"direct: ..." or "yarp: why not direct".</summary>
    public string Reason { get; }

    /// <summary>transforms.stripPrefix, without its trailing slash.</summary>
    public PathString StripPrefix { get; private init; }

    public ReplacePrefixTransform? ReplacePrefix { get; private init; }

    public bool PreserveHost { get; private init; }

    /// <summary>The cluster's connect timeout (timeouts.connect).</summary>
    public TimeSpan ConnectTimeout { get; private init; } = TimeSpan.FromSeconds(5);

    /// <summary>The route retries or has a per-try timeout: response heads go to its retry step (the YARP path's RetryResponseTransform).</summary>
    public bool ChecksRetry { get; private init; }

    /// <summary>Tracing is on: each attempt sends the trace context (and, for a recorded request, is a client span of its own).</summary>
    public bool Traces { get; private init; }

    /// <summary>transforms.requestHeaders: set replaces, append adds a value, remove drops (YARP's RequestHeader transforms).</summary>
    public HeaderRules RequestHeaders { get; private init; } = HeaderRules.None;

    /// <summary>transforms.responseHeaders, applied whatever the status (YARP's When: Always).</summary>
    public HeaderRules ResponseHeaders { get; private init; } = HeaderRules.None;

    /// <summary>What the direct path says for requests it leaves to YARP even on a direct route.</summary>
    public const string PerRequestFallback = "upgrades (WebSockets), CONNECT and gRPC requests still go through YARP";

    /// <summary>The cluster's TLS settings (the same as YARP's client gets), for its https:// endpoints; null for a plain cluster.</summary>
    public UpstreamTlsPolicy? Tls { get; private init; }

    public static ForwarderChoice Decide(ConfigSnapshot snapshot, string routeId, string clusterId, UpstreamTlsPolicies tls)
    {
        var route = snapshot.Definition.Routes.FirstOrDefault(r => string.Equals(r.Id, routeId, StringComparison.OrdinalIgnoreCase));
        var policy = snapshot.RoutePolicies.GetValueOrDefault(routeId);
        var cluster = snapshot.ClusterPolicies.GetValueOrDefault(clusterId);
        var overTls = cluster?.UsesTls == true;
        var obstacle = cluster switch
        {
            null => $"cluster '{clusterId}' is not in the config",
            { Forwarder: ForwarderMode.Yarp } => $"cluster '{clusterId}' sets forwarder: yarp",
            { DirectObstacle: { } reason } => reason,
            // Measured (docs/performance.md): over TLS, YARP's HTTP/2 to an upstream that offers it multiplexes the
            // requests in flight on one connection, and cost the mesh hop less CPU than one HTTP/1.1 connection per
            // request in flight. forwarder: direct still takes the direct path over TLS.
            { Forwarder: ForwarderMode.Auto } when overTls => (cluster.Mesh is not null ? "mesh cluster" : "cluster uses TLS")
                + " under forwarder: auto (HTTP/2 over TLS multiplexes; forwarder: direct takes the direct HTTP/1.1 path)",
            _ when policy?.Resilience?.Hedging is not null => "the route hedges requests (hedging runs inside HttpClient)",
            _ when policy?.Split is not null => "the route splits traffic between clusters",
            _ when route?.Transforms?.PathTemplate is not null => "the route rewrites the path with pathTemplate",
            _ => null,
        };
        if (obstacle is not null) return new ForwarderChoice(clusterId, false, "yarp: " + obstacle);

        var transforms = route?.Transforms;
        return new ForwarderChoice(clusterId, true, "direct: HTTP/1.1 upstream path" + (cluster!.Mesh is not null ? " with mesh mTLS" : "") + " (" + PerRequestFallback + ")")
        {
            StripPrefix = transforms?.StripPrefix is { } strip ? new PathString(strip.TrimEnd('/')) : default,
            ReplacePrefix = policy?.ReplacePrefix is { } replace ? new ReplacePrefixTransform(replace.From!, replace.To!) : null,
            PreserveHost = transforms?.PreserveHost == true,
            ConnectTimeout = cluster!.ConnectTimeout,
            // A mesh cluster's retry policy comes with mesh snapshots and may retry statuses (as the YARP path's transform).
            ChecksRetry = policy?.Resilience is { Retry.Attempts: > 1 } or { PerTryTimeout: not null } || (policy?.Resilience is null && cluster.Mesh is not null),
            Tls = overTls ? tls.For(cluster) : null,
            Traces = snapshot.Tracing is not null,
            RequestHeaders = HeaderRules.From(transforms?.RequestHeaders),
            ResponseHeaders = HeaderRules.From(transforms?.ResponseHeaders),
        };
    }

    /// <summary>
    /// The per-request part: what only YARP forwards. Upgrades (WebSockets over HTTP/1.1, SPDY), CONNECT (HTTP/2
    /// WebSockets come as extended CONNECT) and gRPC, which needs HTTP/2 and trailers.
    /// </summary>
    public static bool TakesRequest(HttpRequest request) => YarpOnly(request.Method, request.Headers.Upgrade, request.Headers.ContentType) is null;

    /// <summary>Why YARP must forward this request even on a direct route; null when the direct path can.</summary>
    public static string? YarpOnly(string method, StringValues upgrade, StringValues contentType)
    {
        if (HttpMethods.IsConnect(method)) return "CONNECT request (HTTP/2 WebSockets come as extended CONNECT)";
        if (!StringValues.IsNullOrEmpty(upgrade)) return "upgrade request (WebSocket)";
        if (contentType.Count > 0 && contentType.ToString().StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase)) return "gRPC request";
        return null;
    }

    /// <summary>Header changes of one direction, for the direct path.</summary>
    internal sealed class HeaderRules
    {
        public static readonly HeaderRules None = new([], [], []);

        private HeaderRules(KeyValuePair<string, string>[] set, KeyValuePair<string, string>[] append, string[] remove)
        {
            Set = set;
            Append = append;
            Remove = remove;
            IsEmpty = set.Length == 0 && append.Length == 0 && remove.Length == 0;
        }

        public KeyValuePair<string, string>[] Set { get; }
        public KeyValuePair<string, string>[] Append { get; }
        public string[] Remove { get; }
        public bool IsEmpty { get; }

        public static HeaderRules From(HeaderTransformsDefinition? definition) =>
            definition is null ? None : new([.. definition.Set ?? []], [.. definition.Append ?? []], [.. definition.Remove ?? []]);

        /// <summary>Whether the rules replace or drop the header, so the incoming value is not copied.</summary>
        public bool Replaces(string name)
        {
            foreach (var rule in Set)
            {
                if (string.Equals(rule.Key, name, StringComparison.OrdinalIgnoreCase)) return true;
            }
            foreach (var removed in Remove)
            {
                if (string.Equals(removed, name, StringComparison.OrdinalIgnoreCase)) return true;
            }
            return false;
        }

        /// <summary>The value a set rule gives the header, or null.</summary>
        public string? SetValue(string name)
        {
            foreach (var rule in Set)
            {
                if (string.Equals(rule.Key, name, StringComparison.OrdinalIgnoreCase)) return rule.Value;
            }
            return null;
        }

        /// <summary>The value an append rule adds to the header, or null.</summary>
        public string? Appended(string name)
        {
            foreach (var rule in Append)
            {
                if (string.Equals(rule.Key, name, StringComparison.OrdinalIgnoreCase)) return rule.Value;
            }
            return null;
        }

        /// <summary>Applies the rules to response headers already copied (YARP applies its transforms after the copy).</summary>
        public void ApplyTo(IHeaderDictionary headers)
        {
            foreach (var (name, value) in Set) headers[name] = value;
            foreach (var (name, value) in Append) headers.Append(name, value);
            foreach (var name in Remove) headers.Remove(name);
        }
    }
}
