using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>The top-level cors policies, and the routes' references to them.</summary>
internal static class CorsValidator
{
    /// <summary>The route value that turns CORS off; no policy may take the name.</summary>
    public const string Disable = "disable";

    private static readonly HashSet<string> KnownMethods = new(StringComparer.OrdinalIgnoreCase)
    {
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    };

    public static void Validate(IReadOnlyDictionary<string, CorsPolicyDefinition> policies, IReadOnlyList<RouteDefinition> routes, ValidationContext context)
    {
        foreach (var (name, policy) in policies)
        {
            var path = $"cors.{name}";
            if (string.Equals(name, Disable, StringComparison.OrdinalIgnoreCase))
            {
                context.Error(path, "the name 'disable' is reserved (a route's cors: disable turns CORS off)");
            }
            ValidatePolicy(policy, path, context);
        }

        for (var i = 0; i < routes.Count; i++)
        {
            if (routes[i].Cors is not { } name || string.Equals(name, Disable, StringComparison.OrdinalIgnoreCase) || policies.ContainsKey(name)) continue;
            context.UnknownReference($"routes[{i}].cors", "CORS policy", name, policies.Keys.ToList(), "no cors policies are defined");
        }
    }

    private static void ValidatePolicy(CorsPolicyDefinition policy, string path, ValidationContext context)
    {
        if (policy.Origins is { } origins)
        {
            if (origins.Count == 0) context.Error($"{path}.origins", "must list at least one origin, e.g. https://app.example.com");
            for (var i = 0; i < origins.Count; i++)
            {
                var origin = origins[i];
                if (origin == "*")
                {
                    if (policy.Credentials) context.Error($"{path}.origins[{i}]", "'*' cannot be used with credentials: true; list the origins (browsers refuse credentials with a wildcard origin)");
                }
                else if (!CorsOrigins.IsValidPattern(origin))
                {
                    context.Error($"{path}.origins[{i}]", $"'{origin}' is not an origin: give scheme://host[:port] without a path or trailing slash (https://app.example.com), a subdomain wildcard (https://*.example.com) or \"*\"");
                }
            }
        }
        if (policy.Methods is { } methods)
        {
            for (var i = 0; i < methods.Count; i++)
            {
                if (methods[i] != "*" && !KnownMethods.Contains(methods[i]))
                {
                    context.Error($"{path}.methods[{i}]", $"'{methods[i]}' is not an HTTP method (one of {string.Join(", ", KnownMethods)}, or *)");
                }
            }
        }
        CheckHeaderNames(policy.Headers, $"{path}.headers", allowStar: true, context);
        CheckHeaderNames(policy.ExposeHeaders, $"{path}.exposeHeaders", allowStar: false, context);
        if (policy.MaxAge is { } maxAge && maxAge < TimeSpan.Zero) context.Error($"{path}.maxAge", "must not be negative");
    }

    private static void CheckHeaderNames(List<string>? names, string path, bool allowStar, ValidationContext context)
    {
        if (names is null) return;
        for (var i = 0; i < names.Count; i++)
        {
            if ((allowStar && names[i] == "*") || Common.HttpSyntax.IsToken(names[i])) continue;
            context.Error($"{path}[{i}]", $"'{names[i]}' is not a valid header name");
        }
    }
}

/// <summary>Origin patterns as the cors policies write them: exact origins and leading-wildcard subdomains.</summary>
public static class CorsOrigins
{
    public static bool IsValidPattern(string origin)
    {
        var text = origin;
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme > 0 && text.AsSpan(scheme + 3).StartsWith("*.")) text = string.Concat(text.AsSpan(0, scheme + 3), "wildcard.", text.AsSpan(scheme + 5));
        if (text.Contains('*', StringComparison.Ordinal)) return false;
        return Uri.TryCreate(text, UriKind.Absolute, out var uri)
            && uri.Scheme is "http" or "https"
            && uri.UserInfo.Length == 0
            && string.Equals(text.TrimEnd('/'), text, StringComparison.Ordinal)
            && uri.AbsolutePath == "/" && uri.Query.Length == 0 && uri.Fragment.Length == 0
            && !text.AsSpan(scheme + 3).Contains('/');
    }

    /// <summary>
    /// Whether <paramref name="origin"/> (as a browser sends it) is allowed: equal to an exact origin, or
    /// "scheme://" + one or more labels + "." + the domain of a wildcard pattern. Case-insensitive.
    /// </summary>
    public static bool Matches(string origin, IReadOnlyCollection<string> exact, IReadOnlyList<(string Scheme, string Suffix)> wildcards)
    {
        if (exact.Contains(origin)) return true;
        foreach (var (scheme, suffix) in wildcards)
        {
            // scheme = "https://", suffix = ".example.com": "https://a.example.com" matches, "https://.example.com" does not.
            if (origin.Length > scheme.Length + suffix.Length
                && origin.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
                && origin.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && origin.AsSpan(scheme.Length, origin.Length - scheme.Length - suffix.Length).IndexOfAny("/:@*") < 0
                && origin[scheme.Length] != '.')
            {
                return true;
            }
        }
        return false;
    }
}
