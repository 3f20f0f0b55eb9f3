using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

internal static class ClusterValidator
{
    public static void Validate(IReadOnlyList<ClusterDefinition> clusters, MeshDefinition? mesh, ValidationContext context)
    {
        ConfigValidator.CheckUniqueIds(clusters, c => c.Id, "clusters", context);
        for (var i = 0; i < clusters.Count; i++)
        {
            var cluster = clusters[i];
            var path = $"clusters[{i}]";
            if (cluster.Discovery == ClusterDiscovery.Mesh || cluster.Service is not null || cluster.Namespace is not null)
            {
                DiscoveryValidator.Validate(cluster, mesh, path, context);
            }
            else
            {
                ValidateEndpoints(cluster, path, context);
            }

            var hashed = cluster.LoadBalancing == LoadBalancingAlgorithm.ConsistentHash;
            if (hashed && cluster.HashOn is null)
            {
                context.Error($"{path}.hashOn", "consistent-hash needs hashOn: { header: NAME } or { cookie: NAME } or { clientIp: true }");
            }
            if (cluster.HashOn is { } hashOn)
            {
                if (!hashed) context.Error($"{path}.hashOn", $"only used with loadBalancing: consistent-hash (this cluster uses {ConfigReaderNames.Of(cluster.LoadBalancing)})");
                var sources = (hashOn.Header is not null ? 1 : 0) + (hashOn.Cookie is not null ? 1 : 0) + (hashOn.ClientIp ? 1 : 0);
                if (sources != 1) context.Error($"{path}.hashOn", $"give exactly one of header, cookie, clientIp: true (found {sources})");
                if (hashOn.Header is { } header && !Common.HttpSyntax.IsToken(header)) context.Error($"{path}.hashOn.header", $"'{header}' is not a valid header name");
            }

            if (cluster.HealthCheck is { } active)
            {
                var activePath = $"{path}.healthCheck";
                if (active.Path is { } probe && !probe.StartsWith('/')) context.Error($"{activePath}.path", $"'{probe}' must start with '/'");
                Positive(active.Interval, $"{activePath}.interval", context);
                Positive(active.Timeout, $"{activePath}.timeout", context);
                if (active.HealthyThreshold < 1) context.Error($"{activePath}.healthyThreshold", "must be at least 1");
                if (active.UnhealthyThreshold < 1) context.Error($"{activePath}.unhealthyThreshold", "must be at least 1");
            }
            if (cluster.Forwarder == ForwarderMode.Direct && Compilation.ForwarderObstacles.OfCluster(cluster) is { } obstacle)
            {
                context.Error($"{path}.forwarder", $"direct needs a cluster it can reach over HTTP/1.1, but this one cannot: {obstacle}; use auto or yarp");
            }
            ClusterResilienceValidator.Validate(cluster, path, context);
            Positive(cluster.Timeouts.Connect, $"{path}.timeouts.connect", context);
            Positive(cluster.Timeouts.Request, $"{path}.timeouts.request", context);

            if (cluster.Tls is { } tls && cluster.Discovery == ClusterDiscovery.Static)
            {
                var tlsPath = $"{path}.tls";
                if (!cluster.HasHttpsEndpoint())
                {
                    context.Error(tlsPath, "has no effect: the cluster has no https:// endpoints");
                }
                context.CheckFile($"{tlsPath}.ca", tls.Ca);
                if ((tls.ClientCert is null) != (tls.ClientKey is null)) context.Error(tlsPath, "clientCert and clientKey go together");
                context.CheckFile($"{tlsPath}.clientCert", tls.ClientCert);
                context.CheckFile($"{tlsPath}.clientKey", tls.ClientKey);
                if (tls.Sni is { } sni && Uri.CheckHostName(sni) != UriHostNameType.Dns) context.Error($"{tlsPath}.sni", $"'{sni}' is not a DNS name");
                if (tls.InsecureSkipVerify && tls.Ca is not null) context.Error(tlsPath, "ca has no effect with insecureSkipVerify: true");
            }
        }
    }

    private static void ValidateEndpoints(ClusterDefinition cluster, string path, ValidationContext context)
    {
        if (cluster.Endpoints.Count == 0)
        {
            context.Error($"{path}.endpoints", "at least one endpoint is required, e.g. endpoints: [http://127.0.0.1:5000]");
            return;
        }
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var j = 0; j < cluster.Endpoints.Count; j++)
        {
            var endpoint = cluster.Endpoints[j];
            var endpointPath = $"{path}.endpoints[{j}]";
            if (endpoint.Url is { } url)
            {
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Host.Length == 0)
                {
                    context.Error(endpointPath, $"'{url}' is not an absolute http:// or https:// URL");
                }
                else if (uri.Query.Length > 0 || uri.Fragment.Length > 0)
                {
                    context.Error(endpointPath, $"'{url}' must not have a query or fragment");
                }
                else if (!seen.Add(uri.GetLeftPart(UriPartial.Path).TrimEnd('/')))
                {
                    context.Error(endpointPath, $"'{url}' is listed twice; use weight to give it a larger share");
                }
            }
            if (endpoint.Weight is < 0 or > 1000)
            {
                context.Error($"{endpointPath}.weight", $"must be between 0 and 1000, found {endpoint.Weight}");
            }
        }
        if (cluster.Endpoints.All(e => e.Weight == 0))
        {
            context.Error($"{path}.endpoints", "every endpoint has weight 0, so the cluster could send traffic nowhere");
        }
    }

    private static void Positive(TimeSpan value, string path, ValidationContext context)
    {
        if (value <= TimeSpan.Zero) context.Error(path, $"must be greater than zero, found {Duration.Format(value)}");
    }
}

internal static class ConfigReaderNames
{
    public static string Of<T>(T value) where T : struct, Enum => Parsing.ConfigReader.EnumName(typeof(T), value);
}
