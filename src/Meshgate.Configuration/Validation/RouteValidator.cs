using System.Text.RegularExpressions;
using Meshgate.Configuration.Model;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Meshgate.Configuration.Validation;

internal static class RouteValidator
{
    private static readonly HashSet<string> KnownMethods = new(StringComparer.OrdinalIgnoreCase)
    {
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    };

    public static void Validate(IReadOnlyList<RouteDefinition> routes, IReadOnlyList<ClusterDefinition> clusters, ValidationContext context)
    {
        ConfigValidator.CheckUniqueIds(routes, r => r.Id, "routes", context);
        var clusterIds = clusters.Where(c => c.Id is not null).Select(c => c.Id!).ToList();

        for (var i = 0; i < routes.Count; i++)
        {
            var route = routes[i];
            var path = $"routes[{i}]";
            if (route.Cluster is { } cluster && !clusterIds.Contains(cluster, StringComparer.OrdinalIgnoreCase))
            {
                context.UnknownReference($"{path}.cluster", "cluster", cluster, clusterIds, "no clusters are defined");
            }
            foreach (var target in TrafficValidator.PrimaryClusters(route))
            {
                if (route.Transforms?.PreserveHost == true
                    && clusters.FirstOrDefault(c => string.Equals(c.Id, target, StringComparison.OrdinalIgnoreCase))?.Tls?.Sni is { } sni)
                {
                    // .NET's HTTP client sends the request's Host header as the TLS server name, so the
                    // client's Host would silently replace the configured SNI and fail the handshake.
                    context.Error($"{path}.transforms.preserveHost", $"cannot be used with cluster '{target}', which sets tls.sni '{sni}': the upstream TLS server name is taken from the Host header, so the client's Host would replace it");
                }
            }
            RoutePattern? pattern = null;
            if (route.Match is { } match) pattern = ValidateMatch(match, $"{path}.match", context);
            if (route.Transforms is { } transforms) ValidateTransforms(transforms, pattern, route.Match is { Path: null, PathPrefix: not null }, $"{path}.transforms", context);
        }
    }

    private static RoutePattern? ValidateMatch(RouteMatchDefinition match, string path, ValidationContext context)
    {
        RoutePattern? pattern = null;
        if (match.Path is not null && match.PathPrefix is not null)
        {
            context.Error(path, "give either path or pathPrefix, not both");
        }
        else if (match.Path is null && match.PathPrefix is null)
        {
            context.Error(path, "needs path (e.g. /orders/{id}, /{**rest}) or pathPrefix (e.g. /api)");
        }
        if (match.Path is { } template)
        {
            pattern = ParsePattern(template, $"{path}.path", context);
        }
        if (match.PathPrefix is { } prefix)
        {
            if (!prefix.StartsWith('/')) context.Error($"{path}.pathPrefix", $"'{prefix}' must start with '/'");
            else if (prefix.IndexOfAny(['{', '}', '?', '#', '*']) >= 0) context.Error($"{path}.pathPrefix", $"'{prefix}' must be a literal path; use path for templates");
        }

        if (match.Methods is { } methods)
        {
            if (methods.Count == 0) context.Error($"{path}.methods", "an empty list matches nothing; leave methods out to match any method");
            for (var i = 0; i < methods.Count; i++)
            {
                if (!KnownMethods.Contains(methods[i]))
                {
                    context.Error($"{path}.methods[{i}]", $"'{methods[i]}' is not an HTTP method (one of {string.Join(", ", KnownMethods)})");
                }
            }
        }

        if (match.Hosts is { } hosts)
        {
            for (var i = 0; i < hosts.Count; i++)
            {
                var host = hosts[i];
                var name = host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
                var colon = name.LastIndexOf(':');
                if (colon > 0 && !name.EndsWith(']') && int.TryParse(name.AsSpan(colon + 1), out _)) name = name[..colon];
                if (name.Length == 0 || name.Contains('*') || Uri.CheckHostName(name.Trim('[', ']')) == UriHostNameType.Unknown)
                {
                    context.Error($"{path}.hosts[{i}]", $"'{host}' is not a host name (a wildcard may only lead: *.example.com)");
                }
            }
        }

        if (match.Headers is { } headers)
        {
            for (var i = 0; i < headers.Count; i++)
            {
                var header = headers[i];
                var headerPath = $"{path}.headers[{i}]";
                if (header.Name is { } name && !Common.HttpSyntax.IsToken(name)) context.Error($"{headerPath}.name", $"'{name}' is not a valid header name");
                var conditions = (header.Exact is not null ? 1 : 0) + (header.Prefix is not null ? 1 : 0) + (header.Regex is not null ? 1 : 0) + (header.Present ? 1 : 0) + (header.Absent ? 1 : 0);
                if (conditions != 1) context.Error(headerPath, $"give exactly one of exact, prefix, regex, present: true, absent: true (found {conditions})");
                if (header.Exact is { Count: 0 }) context.Error($"{headerPath}.exact", "must list at least one value");
                if (header.Prefix is { Count: 0 }) context.Error($"{headerPath}.prefix", "must list at least one value");
                if (header.Regex is { } regex) CheckRegex(regex, $"{headerPath}.regex", context);
            }
        }

        if (match.Query is { } query)
        {
            for (var i = 0; i < query.Count; i++)
            {
                var q = query[i];
                var queryPath = $"{path}.query[{i}]";
                var conditions = (q.Exact is not null ? 1 : 0) + (q.Prefix is not null ? 1 : 0) + (q.Contains is not null ? 1 : 0) + (q.Present ? 1 : 0);
                if (conditions != 1) context.Error(queryPath, $"give exactly one of exact, prefix, contains, present: true (found {conditions})");
                if (q.Name is { Length: 0 }) context.Error($"{queryPath}.name", "must not be empty");
            }
        }
        return pattern;
    }

    private static void ValidateTransforms(RouteTransformsDefinition transforms, RoutePattern? routePattern, bool pathPrefix, string path, ValidationContext context)
    {
        var rewrites = (transforms.StripPrefix is not null ? 1 : 0) + (transforms.ReplacePrefix is not null ? 1 : 0) + (transforms.PathTemplate is not null ? 1 : 0);
        if (rewrites > 1) context.Error(path, "give at most one of stripPrefix, replacePrefix, pathTemplate");
        if (transforms.StripPrefix is { } strip && !IsLiteralPath(strip)) context.Error($"{path}.stripPrefix", $"'{strip}' must be a literal path starting with '/'");
        if (transforms.ReplacePrefix is { } replace)
        {
            if (replace.From is { } from && !IsLiteralPath(from)) context.Error($"{path}.replacePrefix.from", $"'{from}' must be a literal path starting with '/'");
            if (replace.To is { } to && to.Length > 0 && !IsLiteralPath(to)) context.Error($"{path}.replacePrefix.to", $"'{to}' must be empty or a literal path starting with '/'");
        }
        // A pathPrefix route captures no parameters: it stands for an empty pattern here.
        routePattern ??= pathPrefix ? RoutePatternFactory.Parse("/") : null;
        if (transforms.PathTemplate is { } template && ParsePattern(template, $"{path}.pathTemplate", context) is { } rewrite && routePattern is not null)
        {
            foreach (var parameter in rewrite.Parameters)
            {
                if (routePattern.GetParameter(parameter.Name) is null)
                {
                    context.Error($"{path}.pathTemplate", $"uses {{{parameter.Name}}}, which the route's path does not capture (it has: {string.Join(", ", routePattern.Parameters.Select(p => p.Name).DefaultIfEmpty("none"))})");
                }
            }
        }
        ValidateHeaders(transforms.RequestHeaders, $"{path}.requestHeaders", context);
        ValidateHeaders(transforms.ResponseHeaders, $"{path}.responseHeaders", context);
    }

    private static void ValidateHeaders(HeaderTransformsDefinition? headers, string path, ValidationContext context)
    {
        if (headers is null) return;
        // Paths name the offending key or item, so the error points at its own line.
        foreach (var (section, values) in new[] { ("set", headers.Set), ("append", headers.Append) })
        {
            foreach (var (name, value) in values ?? [])
            {
                if (!Common.HttpSyntax.IsToken(name)) context.Error($"{path}.{section}.{name}", $"'{name}' is not a valid header name");
                if (value.AsSpan().IndexOfAny('\r', '\n') >= 0) context.Error($"{path}.{section}.{name}", "header values must not contain line breaks");
            }
        }
        for (var i = 0; i < (headers.Remove?.Count ?? 0); i++)
        {
            if (!Common.HttpSyntax.IsToken(headers.Remove![i])) context.Error($"{path}.remove[{i}]", $"'{headers.Remove[i]}' is not a valid header name");
        }
    }

    private static RoutePattern? ParsePattern(string template, string path, ValidationContext context)
    {
        if (!template.StartsWith('/'))
        {
            context.Error(path, $"'{template}' must start with '/'");
            return null;
        }
        try
        {
            return RoutePatternFactory.Parse(template);
        }
        catch (RoutePatternException e)
        {
            context.Error(path, $"'{template}' is not a valid path template: {e.Message}");
            return null;
        }
    }

    private static void CheckRegex(string regex, string path, ValidationContext context)
    {
        try
        {
            _ = new Regex(regex, RegexOptions.None, TimeSpan.FromMilliseconds(100));
        }
        catch (ArgumentException e)
        {
            context.Error(path, $"not a valid regular expression: {e.Message}");
        }
    }

    private static bool IsLiteralPath(string path) => path.StartsWith('/') && path.IndexOfAny(['{', '}', '?', '#', '*']) < 0;

    internal static bool IsKnownMethod(string method) => KnownMethods.Contains(method);

}
