using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Meshgate.Configuration.Sources.Etcd.Canary;
using Meshgate.Proxy.Caching;
using Meshgate.Proxy.Observability.LiveStatistics;
using Meshgate.Proxy.RateLimiting;
using Meshgate.Proxy.Routing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.Admin.Api;

/// <summary>
/// Compiled System.Text.Json metadata for every answer (and body) of the admin API. The Native AOT build cannot
/// serialize these types by reflection (it fails on their value-type properties); the JIT build uses the same metadata,
/// so both write the same JSON. The admin app's options stay the web defaults: this context is only their first resolver.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(HealthView))]
[JsonSerializable(typeof(ConfigStatusView))]
[JsonSerializable(typeof(List<RouteView>))]
[JsonSerializable(typeof(List<ClusterView>))]
[JsonSerializable(typeof(RouteStatisticsView))]
[JsonSerializable(typeof(RouteExplainer.Explanation))]
[JsonSerializable(typeof(CacheStateView))]
[JsonSerializable(typeof(CachePurgeView))]
[JsonSerializable(typeof(AdminApi.PurgeRequest))]
[JsonSerializable(typeof(RateLimitsView))]
[JsonSerializable(typeof(RateLimitKeyView))]
[JsonSerializable(typeof(AccessLogView))]
[JsonSerializable(typeof(ConfigWriteView))]
[JsonSerializable(typeof(CanaryView))]
[JsonSerializable(typeof(CanaryReading))]
// Results.Problem and Results.ValidationProblem: under Native AOT the reflection resolver finds ProblemDetails trimmed
// and writes {}. Their extensions are strings.
[JsonSerializable(typeof(Microsoft.AspNetCore.Mvc.ProblemDetails))]
[JsonSerializable(typeof(HttpValidationProblemDetails))]
// The explanation's policies are a dictionary of objects: strings, and the route's YARP transforms as compiled.
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(List<Dictionary<string, string>>))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, string>[]))]
[JsonSerializable(typeof(JsonNode))]
internal sealed partial class AdminJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The admin app's options on their own, for the answers that name their status (Results.Json with a JsonTypeInfo
    /// uses that type info's options, not the app's).
    /// </summary>
    public static AdminJsonContext Admin { get; } = new(Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web)));

    // Handlers call these, never the generated properties: the request-delegate generator runs beside this context's
    // generator without seeing its output, and a handler that names a generated property loses its return type (the
    // endpoint then answers 200 with no body).
    internal static IResult Json(HealthView value, int statusCode) => Results.Json(value, Admin.HealthView, statusCode: statusCode);

    internal static IResult Json(ConfigStatusView value, int statusCode) => Results.Json(value, Admin.ConfigStatusView, statusCode: statusCode);

    internal static IResult Json(ConfigWriteView value, int statusCode) => Results.Json(value, Admin.ConfigWriteView, statusCode: statusCode);

    internal static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        // Answers are read by programs and people, never embedded in HTML: quotes, '<' and '+' stay readable.
        options.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        return options;
    }
}

public static class AdminJsonServiceCollectionExtensions
{
    /// <summary>The admin app's JSON: the web defaults, the compiled metadata first (reflection stays behind it for the JIT build).</summary>
    public static IServiceCollection AddMeshgateAdminJson(this IServiceCollection services) => services.ConfigureHttpJsonOptions(o =>
    {
        AdminJsonContext.Configure(o.SerializerOptions);
        o.SerializerOptions.TypeInfoResolverChain.Insert(0, AdminJsonContext.Default);
    });
}
