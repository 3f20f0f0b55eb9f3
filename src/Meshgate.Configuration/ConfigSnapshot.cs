using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Validation;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace Meshgate.Configuration;

/// <summary>
/// One immutable, validated, compiled config. The request path reads only this; a reload builds a
/// new one and swaps it in whole.
/// </summary>
public sealed class ConfigSnapshot
{
    public required MeshgateDefinition Definition { get; init; }

    /// <summary>Short hash of the config text: equal text, equal version.</summary>
    public required string Version { get; init; }

    public required DateTimeOffset LoadedAt { get; init; }

    public string? SourceFile { get; init; }

    public required IReadOnlyList<RouteConfig> Routes { get; init; }
    public required IReadOnlyList<ClusterConfig> Clusters { get; init; }

    /// <summary>Our per-route settings that YARP's config cannot hold, by route id.</summary>
    public required IReadOnlyDictionary<string, RoutePolicy> RoutePolicies { get; init; }

    /// <summary>Our per-cluster settings that YARP's config cannot hold, by cluster id.</summary>
    public required IReadOnlyDictionary<string, ClusterPolicy> ClusterPolicies { get; init; }

    public required IReadOnlyList<ListenerPolicy> Listeners { get; init; }
    public required AdminPolicy Admin { get; init; }
    public required IReadOnlyList<IPNetwork> TrustedProxies { get; init; }
    public required LogLevel LogLevel { get; init; }

    /// <summary>
    /// sockets: the epoll engine serves the listeners and the direct path's upstream connections. auto takes it on Linux
    /// unless the process is in a mesh (docs/sockets.md): sidecars and mesh ingress forward over YARP's HTTP/2, whose
    /// answers come back on .NET's socket thread, so every request would wake two threads where one did.
    /// </summary>
    public bool EpollSockets => Definition.Sockets switch
    {
        Model.SocketEngine.Epoll or Model.SocketEngine.Uring => true,
        Model.SocketEngine.Runtime => false,
        _ => OperatingSystem.IsLinux() && Definition.Mesh is null && !ClusterPolicies.Values.Any(c => c.Mesh is not null),
    };

    /// <summary>
    /// The epoll engine's sends go through an io_uring ring, a turn's with one system call (docs/sockets.md): sockets: uring,
    /// and auto wherever it takes the epoll engine. Where the kernel refuses io_uring, auto sends with system calls.
    /// </summary>
    public bool SendsThroughRing => Definition.Sockets == Model.SocketEngine.Uring || (Definition.Sockets == Model.SocketEngine.Auto && EpollSockets);

    /// <summary>The access log's settings; null when the config has no accessLog section (off).</summary>
    public Compilation.AccessLogPolicy? AccessLog { get; init; }

    /// <summary>Tracing settings; null when the config has no tracing section (off).</summary>
    public Compilation.TracingPolicy? Tracing { get; init; }
}

/// <param name="Cors">The route's compiled CORS policy; null when it has none.</param>
/// <param name="Authentication">The route's providers, when it lists any in auth.</param>
public sealed record RoutePolicy(string RouteId, IReadOnlyList<HeaderRegex> HeaderRegexes, ReplacePrefixDefinition? ReplacePrefix,
    Microsoft.AspNetCore.Cors.Infrastructure.CorsPolicy? Cors = null, RouteAuthenticationPolicy? Authentication = null)
{
    /// <summary>The route's access rules, when it names an authorization policy.</summary>
    public Compilation.AuthorizationPolicy? Authorization { get; init; }

    /// <summary>The route's weighted clusters, when it has split instead of cluster.</summary>
    public Compilation.TrafficSplitPolicy? Split { get; init; }

    /// <summary>The route's shadow copies, when it has mirror.</summary>
    public Compilation.MirrorPolicy? Mirror { get; init; }

    /// <summary>The route's injected faults, when it has faults.</summary>
    public Compilation.FaultPolicy? Faults { get; init; }

    /// <summary>The listeners whose requests the route takes (match.listeners); null for every listener.</summary>
    public System.Collections.Frozen.FrozenSet<string>? Listeners { get; init; }

    /// <summary>The route's timeouts, retries and hedging; null when it has none.</summary>
    public Compilation.ResiliencePolicy? Resilience { get; init; }

    /// <summary>The route's response cache; null when it has none.</summary>
    public Compilation.CachePolicy? Cache { get; init; }

    /// <summary>The route's rate limit; null when it has none (the request path then pays nothing).</summary>
    public Compilation.RateLimitPolicy? RateLimit { get; init; }
}

public sealed record HeaderRegex(string Name, Regex Regex);

public sealed record ClusterPolicy(string ClusterId, TimeSpan ConnectTimeout, X509Certificate2Collection? TrustedCas, X509Certificate2? ClientCertificate)
{
    /// <summary>Circuit-breaker limits; null when the cluster sets none (the request path then pays nothing).</summary>
    public Compilation.CircuitBreakerPolicy? CircuitBreaker { get; init; }

    /// <summary>Outlier-detection settings; null when the cluster has no outlierDetection.</summary>
    public Compilation.OutlierDetectionPolicy? OutlierDetection { get; init; }

    /// <summary>Where a discovery: mesh cluster's endpoints come from; null for a cluster that lists its endpoints.</summary>
    public Compilation.MeshClusterPolicy? Mesh { get; init; }

    /// <summary>How many retries may be in flight to the cluster.</summary>
    public Compilation.RetryBudgetPolicy RetryBudget { get; init; } = Compilation.RetryBudgetPolicy.Default;

    /// <summary>The cluster's forwarder setting (auto, yarp or direct).</summary>
    public Model.ForwarderMode Forwarder { get; init; }

    /// <summary>Why the cluster cannot use the direct HTTP/1.1 path; null when it can (see <see cref="Compilation.ForwarderObstacles"/>).</summary>
    public string? DirectObstacle { get; init; }

    /// <summary>tls.insecureSkipVerify: any upstream certificate is accepted.</summary>
    public bool InsecureSkipVerify { get; init; }

    /// <summary>Requests to the cluster go over TLS: a mesh cluster (mTLS), or one with an https:// endpoint.</summary>
    public bool UsesTls { get; init; }

    /// <summary>
    /// What makes the cluster's TLS client settings (tls.insecureSkipVerify, the CA bundle's and the client certificate's
    /// thumbprints, the mesh service): equal strings mean the same checks and client certificate, so a reload that keeps
    /// it keeps the cluster's TLS policy and the direct path's connections made with it.
    /// </summary>
    public string TlsFingerprint { get; init; } = "";
}

public sealed record ListenerPolicy(string Name, ListenAddress Address, HttpProtocols Protocols, X509Certificate2? Certificate, long? MaxRequestHeadersSize, long? MaxRequestBodySize, long? MaxConcurrentConnections)
{
    /// <summary>Client certificate mode, and the CAs a presented certificate must chain to.</summary>
    public Model.ClientCertificates ClientCertificates { get; init; }
    public X509Certificate2Collection? ClientCas { get; init; }

    /// <summary>Mesh mTLS with the workload certificate, when the listener has meshTls (then <see cref="Certificate"/> is null).</summary>
    public Model.MeshTlsMode? MeshTls { get; init; }

    /// <summary>frontEnd: whether the direct front end may serve this listener's plain requests.</summary>
    public Model.FrontEndMode FrontEnd { get; init; }

    /// <summary>
    /// Whether the direct front end reads this listener's HTTP/1.1 connections: frontEnd auto, no mesh mTLS (the mesh's
    /// caller-identity step is the pipeline's), HTTP/1.1 offered, and no request limits of its own (the pipeline's step
    /// holds a listener to those). Over TLS it reads after the handshake.
    /// </summary>
    public bool UsesDirectFrontEnd => FrontEnd == Model.FrontEndMode.Auto && MeshTls is null
        && (Protocols & HttpProtocols.Http1) != 0 && MaxRequestHeadersSize is null && MaxRequestBodySize is null;
}

public sealed record AdminPolicy(ListenAddress Address, string? Token);
