using Meshgate.Configuration.Model;
using Meshgate.Configuration.Validation;
using Microsoft.AspNetCore.Cors.Infrastructure;

namespace Meshgate.Configuration.Compilation;

/// <summary>Builds ASP.NET Core <see cref="CorsPolicy"/> objects from validated cors definitions, once per snapshot.</summary>
internal static class CorsPolicyCompiler
{
    public static Dictionary<string, CorsPolicy> CompileAll(IReadOnlyDictionary<string, CorsPolicyDefinition> definitions) =>
        definitions.ToDictionary(d => d.Key, d => Compile(d.Value), StringComparer.OrdinalIgnoreCase);

    /// <summary>The route's policy, or null when it has none or says disable.</summary>
    public static CorsPolicy? ForRoute(RouteDefinition route, IReadOnlyDictionary<string, CorsPolicy> policies) =>
        route.Cors is { } name && !string.Equals(name, CorsValidator.Disable, StringComparison.OrdinalIgnoreCase) && policies.TryGetValue(name, out var policy) ? policy : null;

    public static CorsPolicy Compile(CorsPolicyDefinition definition)
    {
        var builder = new CorsPolicyBuilder();
        var origins = definition.Origins ?? [];
        if (origins.Contains("*"))
        {
            builder.AllowAnyOrigin();
        }
        else
        {
            var exact = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var wildcards = new List<(string Scheme, string Suffix)>();
            foreach (var origin in origins)
            {
                var scheme = origin.IndexOf("://", StringComparison.Ordinal) + 3;
                if (origin.AsSpan(scheme).StartsWith("*.")) wildcards.Add((origin[..scheme], origin[(scheme + 1)..]));
                else exact.Add(origin);
            }
            // Origins is kept for display; the predicate decides.
            builder.WithOrigins([.. exact]);
            builder.SetIsOriginAllowed(origin => CorsOrigins.Matches(origin, exact, wildcards));
        }
        if (definition.Methods is null || definition.Methods.Contains("*")) builder.AllowAnyMethod();
        else builder.WithMethods([.. definition.Methods.Select(m => m.ToUpperInvariant())]);
        if (definition.Headers is { } headers)
        {
            if (headers.Contains("*")) builder.AllowAnyHeader();
            else builder.WithHeaders([.. headers]);
        }
        if (definition.ExposeHeaders is { Count: > 0 } expose) builder.WithExposedHeaders([.. expose]);
        if (definition.Credentials) builder.AllowCredentials();
        else builder.DisallowCredentials();
        if (definition.MaxAge is { } maxAge) builder.SetPreflightMaxAge(maxAge);
        return builder.Build();
    }
}
