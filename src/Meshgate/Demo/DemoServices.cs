using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Meshgate.Proxy.Errors;
using Meshgate.Proxy.Hosting;

namespace Meshgate.Demo;

/// <summary>
/// The demo's upstreams: service1 answers GET /service1, service2 answers POST /service2 with an echo
/// of its JSON body. Each instance names itself in x-demo-instance, so load balancing is visible.
/// </summary>
public sealed class DemoServices : IAsyncDisposable
{
    public const string InstanceHeader = "x-demo-instance";
    private readonly List<WebApplication> _apps = [];
    private readonly Dictionary<Uri, Uri> _bound = [];

    /// <summary>The URL an instance listens at, for the URL the config gave it (the port is picked by the system).</summary>
    public Uri BoundUrl(Uri configured) => _bound[configured];

    /// <summary>Starts one instance per (service, endpoint URL) pair.</summary>
    public static async Task<DemoServices> StartAsync(IEnumerable<(string Service, Uri Url)> instances)
    {
        var services = new DemoServices();
        var count = new Dictionary<string, int>();
        try
        {
            foreach (var (service, url) in instances)
            {
                count[service] = count.GetValueOrDefault(service) + 1;
                var name = $"{service}-{(char)('a' + count[service] - 1)}";
                var app = Build(service, name, url);
                await app.StartAsync();
                services._apps.Add(app);
                services._bound[url] = new Uri(app.Urls.Single());
            }
        }
        catch
        {
            await services.DisposeAsync();
            throw;
        }
        return services;
    }

    private static WebApplication Build(string service, string instance, Uri url)
    {
        var builder = MeshgateWebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        // Port 0: the configured port only names the instance; a fixed one would collide with a second demo.
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse(url.Host), 0));
        var app = builder.Build();
        app.Use((context, next) =>
        {
            context.Response.Headers[InstanceHeader] = instance;
            return next(context);
        });
        app.MapGet("/healthz", () => Json(new DemoHealth("ok", instance)));
        if (service == "service1")
        {
            app.MapGet("/service1", () => Json(new DemoMessage("Service 1 response")));
        }
        else
        {
            app.MapPost("/service2", async (HttpContext context) =>
            {
                JsonNode? body;
                try
                {
                    body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
                }
                catch (JsonException e)
                {
                    await ProblemResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "Body is not JSON", e.Message, "demo-bad-json");
                    return;
                }
                await WriteAsync(context, new JsonObject { ["message"] = "Service 2 response", ["echo"] = body });
            });
        }
        return app;
    }

    // Handlers call these rather than name the JSON context's generated properties, which the request-delegate
    // generator does not see (it would lose the handler's return type).
    private static IResult Json(DemoHealth value) => Results.Json(value, DemoJsonContext.Default.DemoHealth);

    private static IResult Json(DemoMessage value) => Results.Json(value, DemoJsonContext.Default.DemoMessage);

    internal static Task WriteAsync(HttpContext context, JsonObject value) => context.Response.WriteAsJsonAsync(value, DemoJsonContext.Default.JsonObject, cancellationToken: context.RequestAborted);

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        _apps.Clear();
    }
}

internal sealed record DemoHealth(string Status, string Instance);

internal sealed record DemoMessage(string Message);

/// <summary>The demos' JSON (services' answers, the mesh demo's hops), compiled: under Native AOT the executable's anonymous types are trimmed and serialize as {}.</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(DemoHealth))]
[System.Text.Json.Serialization.JsonSerializable(typeof(DemoMessage))]
[System.Text.Json.Serialization.JsonSerializable(typeof(JsonObject))]
internal sealed partial class DemoJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
