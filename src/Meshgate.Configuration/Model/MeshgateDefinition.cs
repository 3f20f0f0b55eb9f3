using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>The whole config file, as the operator wrote it.</summary>
[Description("A Meshgate config file.")]
public sealed record MeshgateDefinition
{
    [Description("Where the gateway accepts client traffic. At least one.")]
    public List<ListenerDefinition> Listeners { get; init; } = [];

    [Description("The admin API listener. Defaults to 127.0.0.1:9901 with no token.")]
    public AdminDefinition Admin { get; init; } = new();

    [Description("CIDRs (or single addresses) of proxies in front of the gateway whose X-Forwarded-* and Forwarded headers are believed. Empty: nobody is believed.")]
    public List<string> TrustedProxies { get; init; } = [];

    [Description("Routes, matched in order of `order`, then by specificity.")]
    public List<RouteDefinition> Routes { get; init; } = [];

    [Description("Upstream clusters that routes forward to.")]
    public List<ClusterDefinition> Clusters { get; init; } = [];

    [Description("Process log settings.")]
    public LoggingDefinition Logging { get; init; } = new();

    [Description("Shutdown behaviour.")]
    public ShutdownDefinition Shutdown { get; init; } = new();

    [Description("The socket engine under the listeners' connections and the direct path's upstream connections: auto (the default: uring on Linux outside a mesh where the kernel allows io_uring, else epoll there, else runtime), uring (the epoll engine with its sends batched through io_uring, a turn's with one system call; Linux only, and an error at start where io_uring is refused), epoll (Meshgate's own edge-triggered epoll loop per core, Linux only: no system call is made for a read that would find nothing; each send a system call) or runtime (.NET's sockets). docs/sockets.md. Needs a restart.")]
    public SocketEngine Sockets { get; init; } = SocketEngine.Auto;

    [Description("Authentication providers by name; routes list them in auth.")]
    public Dictionary<string, AuthenticationProviderDefinition> Authentication { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    [Description("Named access-rule policies that routes refer to in their authorization key.")]
    public Dictionary<string, AuthorizationPolicyDefinition> Authorization { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    [Description("Named CORS policies that routes refer to with cors: <name>. The name disable is reserved.")]
    public Dictionary<string, CorsPolicyDefinition> Cors { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    [Description("Named resilience policies (timeouts, retries, hedging) that routes refer to with resilience: <name>. A policy named default applies to routes that name none; disable is reserved.")]
    public Dictionary<string, ResiliencePolicyDefinition> Resilience { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    [Description("The access log: one JSON line per request, to stdout or a file. Absent: off.")]
    public AccessLogDefinition? AccessLog { get; init; }

    [Description("Prometheus metrics at GET /metrics on the admin listener. On by default.")]
    public MetricsDefinition Metrics { get; init; } = new();

    [Description("Distributed tracing (OpenTelemetry, exported with OTLP). Absent: off.")]
    public TracingDefinition? Tracing { get; init; }

    [Description("Named response-cache policies (RFC 9111 shared cache) that routes refer to with cache: <name>. The name disable is reserved.")]
    public Dictionary<string, CachePolicyDefinition> Caches { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    [Description("Named rate-limit policies that routes refer to with rateLimit: <name>.")]
    public Dictionary<string, RateLimitPolicyDefinition> RateLimits { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    [Description("Shared stores (Redis) for rate limits with scope: shared and caches with store: redis.")]
    public StoresDefinition Stores { get; init; } = new();

    [Description("Membership of a service mesh (control plane, identity). Absent: not in a mesh.")]
    public MeshDefinition? Mesh { get; init; }
}

public sealed record AdminDefinition
{
    [Description("host:port of the admin listener. Default 127.0.0.1:9901 (loopback only).")]
    public string Address { get; init; } = "127.0.0.1:9901";

    [Description("Bearer token required for admin endpoints other than /admin/health/*. Prefer tokenEnv or tokenFile so the token is not in the file.")]
    [Secret]
    public string? Token { get; init; }

    [Description("Name of an environment variable holding the admin bearer token.")]
    public string? TokenEnv { get; init; }

    [Description("Path of a file holding the admin bearer token (surrounding whitespace is trimmed).")]
    public string? TokenFile { get; init; }
}

public enum LogLevelName
{
    Trace,
    Debug,
    [System.Runtime.Serialization.EnumMember(Value = "info")] Information,
    Warning,
    Error,
    Critical,
    None,
}

public enum LogFormat { Json, Text }

public sealed record LoggingDefinition
{
    [Description("Minimum level: trace, debug, info, warning, error, critical, none. Default info. Applied on reload.")]
    public LogLevelName Level { get; init; } = LogLevelName.Information;

    [Description("json (one JSON object per line, the default) or text (one line per event). Needs a restart.")]
    public LogFormat Format { get; init; } = LogFormat.Json;
}

/// <summary>Which code makes the gateway's socket reads and writes (docs/sockets.md).</summary>
public enum SocketEngine { Auto, Epoll, Uring, Runtime }

public sealed record ShutdownDefinition
{
    [Description("On SIGTERM/SIGINT, how long in-flight requests may run before the process exits anyway. Default 30s. Needs a restart.")]
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
