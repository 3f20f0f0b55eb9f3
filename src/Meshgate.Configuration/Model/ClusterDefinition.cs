using System.ComponentModel;
using System.Runtime.Serialization;

namespace Meshgate.Configuration.Model;

public enum LoadBalancingAlgorithm
{
    RoundRobin,
    LeastRequests,
    PowerOfTwoChoices,
    Random,
    ConsistentHash,
}

/// <summary>Where a cluster's endpoints come from.</summary>
public enum ClusterDiscovery
{
    /// <summary>The cluster's endpoints list.</summary>
    Static,
    /// <summary>The live instances of a mesh service, from the mesh section's control plane.</summary>
    Mesh,
}

public enum UpstreamHttpVersion
{
    Auto,
    [EnumMember(Value = "1.1")] Http11,
    [EnumMember(Value = "2")] Http2,
}

/// <summary>Which code forwards a cluster's requests.</summary>
public enum ForwarderMode
{
    /// <summary>The direct HTTP/1.1 path (plain or TLS) where the cluster and route allow it, YARP's forwarder otherwise.</summary>
    Auto,
    /// <summary>Always YARP's forwarder (HttpClient).</summary>
    Yarp,
    /// <summary>The direct HTTP/1.1 path (also over TLS); the cluster must allow it (not httpVersion "2", no maxConnectionsPerEndpoint).</summary>
    Direct,
}

public sealed record ClusterDefinition
{
    [Description("Unique id of the cluster.")]
    [Required]
    public string? Id { get; init; }

    [Description("Upstream endpoints: a URL, or {url, weight}. Empty with discovery: mesh.")]
    public List<EndpointDefinition> Endpoints { get; init; } = [];

    /// <summary>Whether an endpoint is an https:// URL: what the tls section applies to (a method, so the schema and the binder pass it by).</summary>
    public bool HasHttpsEndpoint() => Endpoints.Any(e => e.Url?.StartsWith("https://", StringComparison.OrdinalIgnoreCase) == true);

    [Description("Where the endpoints come from: static (the endpoints list; the default) or mesh (the live instances of service, from the control plane of the mesh section, reached with mutual TLS).")]
    public ClusterDiscovery Discovery { get; init; } = ClusterDiscovery.Static;

    [Description("With discovery: mesh: the mesh service whose live instances are the endpoints, e.g. orders.")]
    public string? Service { get; init; }

    [Description("With discovery: mesh: the namespace of service. Default: the mesh section's namespace.")]
    public string? Namespace { get; init; }

    [Description("round-robin (default), least-requests, power-of-two-choices, random or consistent-hash. All honour endpoint weights.")]
    public LoadBalancingAlgorithm LoadBalancing { get; init; } = LoadBalancingAlgorithm.RoundRobin;

    [Description("For consistent-hash: what to hash. Exactly one of header, cookie, clientIp.")]
    public HashOnDefinition? HashOn { get; init; }

    [Description("Active health checks: periodic probes.")]
    public ActiveHealthCheckDefinition? HealthCheck { get; init; }

    [Description("Replaced by outlierDetection; kept only to name the equivalent setting in its error.")]
    public PassiveHealthDefinition? PassiveHealth { get; init; }

    [Description("HTTP version toward the upstream: auto (HTTP/2 if TLS ALPN offers it, else 1.1, except gRPC requests to http:// endpoints, which go as h2c; the default), \"1.1\", or \"2\" (HTTP/2 only; h2c for http:// endpoints, as gRPC needs).")]
    public UpstreamHttpVersion HttpVersion { get; init; } = UpstreamHttpVersion.Auto;

    [Description("Which code forwards requests: auto (the direct HTTP/1.1 path for plain http:// clusters, unless the cluster asks for HTTP/2 or limits connections per endpoint or the route needs something only YARP has; YARP for everything else, https:// and mesh clusters included, where HTTP/2 multiplexes; the default), yarp (always YARP's forwarder), or direct (the direct path, also over TLS for https:// and mesh clusters; refused for clusters that cannot use it). /admin/explain shows the choice and why.")]
    public ForwarderMode Forwarder { get; init; } = ForwarderMode.Auto;

    [Description("Upstream timeouts.")]
    public ClusterTimeoutsDefinition Timeouts { get; init; } = new();

    [Description("TLS toward https:// endpoints.")]
    public UpstreamTlsDefinition? Tls { get; init; }

    [Description("Circuit breaking: limits on concurrent requests, pending requests and connections per endpoint; beyond them a request fails at once with 503.")]
    public CircuitBreakerDefinition? CircuitBreaker { get; init; }

    [Description("Outlier detection (passive health): eject endpoints after consecutive 5xx or gateway errors, or a success rate far below the cluster's.")]
    public OutlierDetectionDefinition? OutlierDetection { get; init; }

    [Description("Limit on retries in flight to this cluster (from routes with a resilience policy). Default: 20 percent of active requests, at least 3.")]
    public RetryBudgetDefinition RetryBudget { get; init; } = new();
}

[ScalarShorthand(nameof(Url))]
public sealed record EndpointDefinition
{
    [Description("Absolute http:// or https:// URL of the endpoint, optionally with a base path.")]
    [Required]
    public string? Url { get; init; }

    [Description("Relative share of traffic, 0..1000. Default 1; 0 sends it nothing.")]
    public int Weight { get; init; } = 1;
}

public sealed record HashOnDefinition
{
    [Description("Hash this request header.")]
    public string? Header { get; init; }

    [Description("Hash this cookie.")]
    public string? Cookie { get; init; }

    [Description("Hash the client address (after trustedProxies).")]
    public bool ClientIp { get; init; }
}

public sealed record ActiveHealthCheckDefinition
{
    [Description("Path probed with GET on each endpoint. A 2xx or 3xx answer is a success.")]
    [Required]
    public string? Path { get; init; }

    [Description("Time between probes. Default 10s.")]
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    [Description("Probe timeout. Default 5s.")]
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    [Description("Consecutive successes that bring an unhealthy endpoint back. Default 1.")]
    public int HealthyThreshold { get; init; } = 1;

    [Description("Consecutive failures that take a healthy endpoint out. Default 3.")]
    public int UnhealthyThreshold { get; init; } = 3;
}

/// <summary>The former passive health section; its only use now is a migration error (see outlierDetection).</summary>
public sealed record PassiveHealthDefinition
{
    [Description("Consecutive failed requests (connection errors, timeouts, 5xx) that eject an endpoint. Default 5.")]
    public int ConsecutiveFailures { get; init; } = 5;

    [Description("How long an ejected endpoint gets no traffic. Default 30s.")]
    public TimeSpan EjectFor { get; init; } = TimeSpan.FromSeconds(30);
}

public sealed record ClusterTimeoutsDefinition
{
    [Description("TCP (and TLS) connect timeout. Default 5s. Expiry: 502.")]
    public TimeSpan Connect { get; init; } = TimeSpan.FromSeconds(5);

    [Description("Longest wait for upstream activity: for the response headers, and between body reads. Default 100s. Expiry: 504.")]
    public TimeSpan Request { get; init; } = TimeSpan.FromSeconds(100);
}

public sealed record UpstreamTlsDefinition
{
    [Description("PEM bundle of CA certificates trusted for the upstream's certificate instead of the system store.")]
    public string? Ca { get; init; }

    [Description("PEM client certificate presented to the upstream (mTLS). Use with clientKey.")]
    public string? ClientCert { get; init; }

    [Description("PEM private key of clientCert.")]
    public string? ClientKey { get; init; }

    [Description("Server name sent in TLS SNI and checked against the upstream's certificate; also the Host header unless the route preserves the client's Host.")]
    public string? Sni { get; init; }

    [Description("Accept any upstream certificate. For tests only: it disables server authentication.")]
    public bool InsecureSkipVerify { get; init; }
}
