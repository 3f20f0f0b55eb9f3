using System.Collections.Frozen;
using System.Globalization;
using System.Net;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Parsing;
using Meshgate.Configuration.Validation;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Meshgate.Configuration.Compilation;

/// <summary>The one place that turns a valid definition into a <see cref="ConfigSnapshot"/>.</summary>
public static class ConfigCompiler
{
    private static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(50);

    /// <summary>YARP's name for the available-destinations policy that never falls back to unhealthy ones.</summary>
    private const string HealthyAndUnknown = "HealthyAndUnknown";

    /// <summary>Compiles; reading certificates and secrets can still fail, and those failures come back as errors.</summary>
    public static (ConfigSnapshot? Snapshot, IReadOnlyList<ConfigError> Errors) Compile(MeshgateDefinition definition, string version, string baseDirectory, string? sourceFile)
    {
        var context = new ValidationContext(baseDirectory);
        var listeners = definition.Listeners.Select((l, i) => CompileListener(l, $"listeners[{i}]", context)).ToList();
        var clusterPolicies = new Dictionary<string, ClusterPolicy>(StringComparer.OrdinalIgnoreCase);
        var clusters = new List<ClusterConfig>();
        for (var i = 0; i < definition.Clusters.Count; i++)
        {
            var (config, policy) = CompileCluster(definition.Clusters[i], definition.Mesh, $"clusters[{i}]", context);
            clusters.Add(config);
            clusterPolicies[config.ClusterId] = policy;
        }
        var authorization = definition.Authorization.ToDictionary(p => p.Key, p => AuthorizationCompiler.Compile(p.Key, p.Value), StringComparer.OrdinalIgnoreCase);
        var authenticationProviders = AuthenticationCompiler.CompileProviders(definition, context);
        var routePolicies = new Dictionary<string, RoutePolicy>(StringComparer.OrdinalIgnoreCase);
        var corsPolicies = CorsPolicyCompiler.CompileAll(definition.Cors);
        var resiliencePolicies = ResiliencePolicyCompiler.CompileAll(definition.Resilience);
        var cachePolicies = CachePolicyCompiler.CompileAll(definition.Caches, definition.Stores.Redis);
        var rateLimitPolicies = RateLimitPolicyCompiler.CompileAll(definition.RateLimits);
        var routes = new List<RouteConfig>();
        foreach (var route in definition.Routes)
        {
            var resilience = ResiliencePolicyCompiler.ForRoute(route, resiliencePolicies);
            routes.Add(CompileRoute(route, version));
            routePolicies[route.Id!] = new RoutePolicy(
                route.Id!,
                (route.Match!.Headers ?? []).Where(h => h.Regex is not null)
                    .Select(h => new HeaderRegex(h.Name!, new Regex(h.Regex!, RegexOptions.CultureInvariant | (h.CaseSensitive ? RegexOptions.None : RegexOptions.IgnoreCase), RegexTimeout))).ToList(),
                route.Transforms?.ReplacePrefix,
                CorsPolicyCompiler.ForRoute(route, corsPolicies),
                AuthenticationCompiler.CompileRoute(route, authenticationProviders))
            {
                Authorization = route.Authorization is { } name ? authorization[name] : null,
                Split = TrafficPolicyCompiler.CompileSplit(route),
                Mirror = TrafficPolicyCompiler.CompileMirror(route),
                Faults = TrafficPolicyCompiler.CompileFaults(route),
                Resilience = resilience,
                Cache = CachePolicyCompiler.ForRoute(route, cachePolicies),
                RateLimit = RateLimitPolicyCompiler.ForRoute(route, rateLimitPolicies),
                Listeners = route.Match.Listeners is { } names ? names.ToFrozenSet(StringComparer.OrdinalIgnoreCase) : null,
            };
        }

        // Hedging is a handler on the cluster's HTTP client: the key makes YARP rebuild the client when it comes or goes.
        var hedged = definition.Routes.Where(r => routePolicies[r.Id!].Resilience?.Hedging is not null).Select(r => r.Cluster!).ToHashSet(StringComparer.OrdinalIgnoreCase);
        clusters = clusters.Select(c => hedged.Contains(c.ClusterId) ? c with { Metadata = new Dictionary<string, string>(c.Metadata!) { [MetadataKeys.Hedged] = "true" } } : c).ToList();

        if (context.Errors.Count > 0) return (null, context.Errors);
        var snapshot = new ConfigSnapshot
        {
            Definition = definition,
            Version = version,
            LoadedAt = DateTimeOffset.UtcNow,
            SourceFile = sourceFile,
            Routes = routes,
            Clusters = clusters,
            RoutePolicies = routePolicies,
            ClusterPolicies = clusterPolicies,
            Listeners = listeners,
            Admin = CompileAdmin(definition.Admin, context),
            TrustedProxies = definition.TrustedProxies.Select(t => { Addressing.TryParseNetwork(t, out var n); return n; }).ToList(),
            LogLevel = (LogLevel)(int)definition.Logging.Level,
            AccessLog = AccessLogCompiler.Compile(definition, context),
            Tracing = TracingCompiler.Compile(definition.Tracing),
        };
        return context.Errors.Count > 0 ? (null, context.Errors) : (snapshot, []);
    }

    /// <summary>
    /// The revision of a config text: 12 hex digits of a hash of it, to tell one text from another (reloads, ETags,
    /// If-Match). XxHash128 rather than SHA-256, which on Linux is OpenSSL's: hashing the config at start was what
    /// loaded OpenSSL into every gateway (about 5.5 MiB of idle RSS, docs/performance.md#memory), with or without TLS,
    /// JWT or API keys in its config. Nothing relies on the revision being hard to forge: writers are authenticated.
    /// </summary>
    public static string VersionOf(string text) => Convert.ToHexStringLower(XxHash128.Hash(Encoding.UTF8.GetBytes(text)))[..12];

    private static ListenerPolicy CompileListener(ListenerDefinition listener, string path, ValidationContext context)
    {
        Addressing.TryParseListenAddress(listener.Address!, out var address);
        X509Certificate2? certificate = null;
        if (listener.Tls is { } tls)
        {
            try
            {
                certificate = tls.Pfx is { } pfx
                    ? X509CertificateLoader.LoadPkcs12FromFile(context.ResolvePath(pfx), tls.PfxPasswordEnv is { } env ? Environment.GetEnvironmentVariable(env) : null)
                    : X509Certificate2.CreateFromPemFile(context.ResolvePath(tls.Cert!), context.ResolvePath(tls.Key!));
                if (!certificate.HasPrivateKey) context.Error($"{path}.tls", "the certificate has no private key");
            }
            catch (CryptographicException e)
            {
                context.Error($"{path}.tls", $"cannot load the certificate: {e.Message}");
            }
        }
        var protocols = listener.Protocols switch
        {
            null => certificate is null && listener.MeshTls is null ? HttpProtocols.Http1 : HttpProtocols.Http1AndHttp2,
            var list when list.Contains(ListenerProtocol.Http1) && list.Contains(ListenerProtocol.Http2) => HttpProtocols.Http1AndHttp2,
            var list when list.Contains(ListenerProtocol.Http2) => HttpProtocols.Http2,
            _ => HttpProtocols.Http1,
        };
        X509Certificate2Collection? clientCas = null;
        if (listener.Tls?.ClientCa is { } clientCa)
        {
            try
            {
                clientCas = [];
                clientCas.ImportFromPemFile(context.ResolvePath(clientCa));
                if (clientCas.Count == 0) context.Error($"{path}.tls.clientCa", $"'{clientCa}' holds no PEM certificates");
            }
            catch (CryptographicException e)
            {
                context.Error($"{path}.tls.clientCa", $"cannot load the CA bundle: {e.Message}");
            }
        }
        return new ListenerPolicy(listener.Name!, address, protocols, certificate,
            listener.Limits.MaxRequestHeadersSize?.Bytes, listener.Limits.MaxRequestBodySize?.Bytes, listener.Limits.MaxConcurrentConnections)
        {
            ClientCertificates = listener.Tls?.ClientCertificates ?? ClientCertificates.None,
            ClientCas = clientCas,
            MeshTls = listener.MeshTls,
            FrontEnd = listener.FrontEnd,
        };
    }

    private static AdminPolicy CompileAdmin(AdminDefinition admin, ValidationContext context)
    {
        Addressing.TryParseListenAddress(admin.Address, out var address);
        var token = admin.Token;
        if (admin.TokenEnv is { } env)
        {
            token = Environment.GetEnvironmentVariable(env)?.Trim();
            // The same floor as an inline token and a token file: a short token from the environment is no safer.
            if (token is { Length: < 16 }) context.Error("admin.tokenEnv", $"the token in '{env}' is shorter than 16 characters");
        }
        if (admin.TokenFile is { } file)
        {
            token = File.ReadAllText(context.ResolvePath(file)).Trim();
            if (token.Length < 16) context.Error("admin.tokenFile", "the token in the file is shorter than 16 characters");
        }
        return new AdminPolicy(address, token);
    }

    private static RouteConfig CompileRoute(RouteDefinition route, string version)
    {
        var match = route.Match!;
        var transforms = new List<Dictionary<string, string>>();
        var t = route.Transforms;
        if (t?.StripPrefix is { } strip) transforms.Add(new() { ["PathRemovePrefix"] = strip.TrimEnd('/') });
        if (t?.PathTemplate is { } template) transforms.Add(new() { ["PathPattern"] = template });
        if (t?.PreserveHost == true) transforms.Add(new() { ["RequestHeaderOriginalHost"] = "true" });
        if (t?.RequestHeaders is { } request)
        {
            foreach (var (name, value) in request.Set ?? []) transforms.Add(new() { ["RequestHeader"] = name, ["Set"] = value });
            foreach (var (name, value) in request.Append ?? []) transforms.Add(new() { ["RequestHeader"] = name, ["Append"] = value });
            foreach (var name in request.Remove ?? []) transforms.Add(new() { ["RequestHeaderRemove"] = name });
        }
        if (t?.ResponseHeaders is { } response)
        {
            foreach (var (name, value) in response.Set ?? []) transforms.Add(new() { ["ResponseHeader"] = name, ["Set"] = value, ["When"] = "Always" });
            foreach (var (name, value) in response.Append ?? []) transforms.Add(new() { ["ResponseHeader"] = name, ["Append"] = value, ["When"] = "Always" });
            foreach (var name in response.Remove ?? []) transforms.Add(new() { ["ResponseHeaderRemove"] = name, ["When"] = "Always" });
        }

        return new RouteConfig
        {
            RouteId = route.Id!,
            // A split route still needs one cluster for YARP; the split step reassigns the others' shares.
            ClusterId = TrafficPolicyCompiler.PrimaryCluster(route),
            Order = route.Order,
            Match = new RouteMatch
            {
                Path = match.Path ?? (match.PathPrefix!.TrimEnd('/') + "/{**remainder}"),
                Methods = match.Methods?.Select(m => m.ToUpperInvariant()).ToList(),
                Hosts = match.Hosts,
                Headers = match.Headers?.Where(h => h.Regex is null).Select(h => new RouteHeader
                {
                    Name = h.Name!,
                    Values = h.Exact ?? h.Prefix,
                    Mode = h switch
                    {
                        { Exact: not null } => HeaderMatchMode.ExactHeader,
                        { Prefix: not null } => HeaderMatchMode.HeaderPrefix,
                        { Present: true } => HeaderMatchMode.Exists,
                        _ => HeaderMatchMode.NotExists,
                    },
                    IsCaseSensitive = h.CaseSensitive,
                }).ToList(),
                QueryParameters = match.Query?.Select(q => new RouteQueryParameter
                {
                    Name = q.Name!,
                    Values = q.Exact ?? q.Prefix ?? q.Contains,
                    Mode = q switch
                    {
                        { Exact: not null } => QueryParameterMatchMode.Exact,
                        { Prefix: not null } => QueryParameterMatchMode.Prefix,
                        { Contains: not null } => QueryParameterMatchMode.Contains,
                        _ => QueryParameterMatchMode.Exists,
                    },
                    IsCaseSensitive = q.CaseSensitive,
                }).ToList(),
            },
            Transforms = transforms,
            // YARP rebuilds a route's endpoint only when its RouteConfig changes. Our per-route settings
            // and the named policies a route refers to live outside it, so the config's version goes in
            // here: every applied change rebuilds the endpoints, whose metadata then is never stale.
            Metadata = new Dictionary<string, string> { [MetadataKeys.RouteFingerprint] = version },
        };
    }

    private static (ClusterConfig, ClusterPolicy) CompileCluster(ClusterDefinition cluster, MeshDefinition? meshSection, string path, ValidationContext context)
    {
        var metadata = new Dictionary<string, string>();
        var mesh = MeshClusterPolicy.Compile(cluster, meshSection);
        if (mesh is not null) metadata[MetadataKeys.MeshService] = mesh.Service;
        // Mesh clusters eject a dead instance on its first failed connect, before its registry lease runs out.
        var outlierDetection = cluster.OutlierDetection ?? (mesh is null ? null : MeshClusterPolicy.DefaultOutlierDetection);
        if (cluster.HashOn is { } hashOn)
        {
            (metadata[MetadataKeys.HashSource], var name) = hashOn switch
            {
                { Header: { } h } => ("header", h),
                { Cookie: { } c } => ("cookie", c),
                _ => ("client-ip", ""),
            };
            metadata[MetadataKeys.HashName] = name;
        }
        if (cluster.HealthCheck is { } active)
        {
            metadata[MetadataKeys.HealthyThreshold] = active.HealthyThreshold.ToString(CultureInfo.InvariantCulture);
            metadata[MetadataKeys.UnhealthyThreshold] = active.UnhealthyThreshold.ToString(CultureInfo.InvariantCulture);
        }

        X509Certificate2Collection? cas = null;
        X509Certificate2? clientCertificate = null;
        var tls = cluster.Tls;
        try
        {
            if (tls?.Ca is { } ca)
            {
                cas = [];
                cas.ImportFromPemFile(context.ResolvePath(ca));
                if (cas.Count == 0) context.Error($"{path}.tls.ca", $"'{ca}' holds no PEM certificates");
            }
            if (tls?.ClientCert is { } cert && tls.ClientKey is { } key)
            {
                clientCertificate = X509Certificate2.CreateFromPemFile(context.ResolvePath(cert), context.ResolvePath(key));
            }
        }
        catch (CryptographicException e)
        {
            context.Error($"{path}.tls", $"cannot load a certificate: {e.Message}");
        }
        var tlsFingerprint = string.Join('|',
            tls?.InsecureSkipVerify == true,
            cas is null ? "" : string.Join(',', cas.Select(c => c.Thumbprint)),
            clientCertificate?.Thumbprint ?? "",
            mesh is null ? "" : $"mesh:{mesh.Namespace}/{mesh.Service}");
        // The HTTP client is rebuilt only when its config or metadata change; a fingerprint of the
        // settings we apply ourselves makes a changed CA, client certificate or timeout count as a change.
        metadata[MetadataKeys.UpstreamFingerprint] = string.Join('|', cluster.Timeouts.Connect.Ticks, tlsFingerprint);

        var (version, policy) = cluster.HttpVersion switch
        {
            UpstreamHttpVersion.Http11 => (HttpVersion.Version11, HttpVersionPolicy.RequestVersionExact),
            UpstreamHttpVersion.Http2 => (HttpVersion.Version20, HttpVersionPolicy.RequestVersionExact),
            _ => (HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower),
        };

        var config = new ClusterConfig
        {
            ClusterId = cluster.Id!,
            LoadBalancingPolicy = cluster.LoadBalancing switch
            {
                LoadBalancingAlgorithm.LeastRequests => PolicyNames.LeastRequests,
                LoadBalancingAlgorithm.PowerOfTwoChoices => PolicyNames.PowerOfTwoChoices,
                LoadBalancingAlgorithm.Random => PolicyNames.Random,
                LoadBalancingAlgorithm.ConsistentHash => PolicyNames.ConsistentHash,
                _ => PolicyNames.RoundRobin,
            },
            Destinations = cluster.Endpoints.ToDictionary(
                e => e.Url!,
                e => new DestinationConfig
                {
                    Address = e.Url!,
                    Host = tls?.Sni,
                    Metadata = new Dictionary<string, string> { [MetadataKeys.Weight] = e.Weight.ToString(CultureInfo.InvariantCulture) },
                },
                StringComparer.OrdinalIgnoreCase),
            HealthCheck = new HealthCheckConfig
            {
                // YARP's default (HealthyOrPanic) sends to every endpoint once all are unhealthy; an
                // endpoint that failed its checks gets no traffic, and with none left the client gets 503.
                AvailableDestinationsPolicy = HealthyAndUnknown,
                Active = cluster.HealthCheck is { } a ? new ActiveHealthCheckConfig
                {
                    Enabled = true,
                    Interval = a.Interval,
                    Timeout = a.Timeout,
                    Path = a.Path,
                    Policy = PolicyNames.ActiveHealth,
                } : null,
                // Outlier detection is YARP's passive health: our policy sees every proxied attempt and
                // passes each ejection's own period to SetPassive, so ReactivationPeriod here is only YARP's fallback.
                Passive = outlierDetection is { } outliers ? new PassiveHealthCheckConfig
                {
                    Enabled = true,
                    Policy = PolicyNames.OutlierDetection,
                    ReactivationPeriod = outliers.BaseEjectionTime,
                } : null,
            },
            HttpRequest = new ForwarderRequestConfig
            {
                ActivityTimeout = cluster.Timeouts.Request,
                Version = version,
                VersionPolicy = policy,
            },
            HttpClient = new HttpClientConfig
            {
                DangerousAcceptAnyServerCertificate = tls?.InsecureSkipVerify ?? false,
                // YARP's own key for SocketsHttpHandler.MaxConnectionsPerServer; a change makes YARP build a new
                // client, and requests in flight finish on the old one.
                MaxConnectionsPerServer = cluster.CircuitBreaker?.MaxConnectionsPerEndpoint,
            },
            Metadata = metadata,
        };
        return (config, new ClusterPolicy(cluster.Id!, cluster.Timeouts.Connect, cas, clientCertificate)
        {
            CircuitBreaker = ClusterResilienceCompiler.CompileCircuitBreaker(cluster.CircuitBreaker),
            OutlierDetection = ClusterResilienceCompiler.CompileOutlierDetection(outlierDetection),
            Mesh = mesh,
            RetryBudget = new RetryBudgetPolicy(cluster.RetryBudget.Percent, cluster.RetryBudget.MinConcurrent),
            Forwarder = cluster.Forwarder,
            DirectObstacle = ForwarderObstacles.OfCluster(cluster),
            UsesTls = mesh is not null || cluster.HasHttpsEndpoint(),
            InsecureSkipVerify = tls?.InsecureSkipVerify == true,
            TlsFingerprint = tlsFingerprint,
        });
    }
}
