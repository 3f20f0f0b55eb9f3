using System.Net;
using System.Text.Json.Nodes;
using Meshgate.Proxy.Errors;
using Meshgate.Proxy.Hosting;
using Meshgate.Proxy.Mesh;
using Meshgate.Roles.Edge;

namespace Meshgate.Demo;

/// <summary>
/// One service of `meshgate demo --mesh`: an ordinary HTTP app on 127.0.0.1 that knows nothing of TLS or discovery.
/// It answers any path with the call chain as JSON: its own hop (its name, and the caller's SPIFFE id as its sidecar
/// told it in x-forwarded-client-cert), then, if it has a next service, that service's chain, got by calling
/// http://NEXT/NEXT with its own sidecar as HTTP proxy, as an app in the mesh would.
/// </summary>
internal sealed class MeshDemoApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private HttpClient? _outbound;

    private MeshDemoApp(string service, string? next)
    {
        Service = service;
        var builder = MeshgateWebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        // The demo stops its parts itself, in order; the app must not stop on Ctrl+C before the sidecars in front of it.
        builder.Services.AddSingleton<IHostLifetime, PassiveHostLifetime>();
        _app = builder.Build();
        _app.Map("/{**path}", (HttpContext context) => AnswerAsync(context, next));
    }

    public string Service { get; }

    public Uri Url => new(_app.Urls.Single());

    public static async Task<MeshDemoApp> StartAsync(string service, string? next)
    {
        var app = new MeshDemoApp(service, next);
        await app._app.StartAsync();
        return app;
    }

    /// <summary>Calls to other services go through <paramref name="sidecarOutbound"/>, the app's sidecar as HTTP proxy (what HTTP_PROXY does).</summary>
    public void UseSidecar(Uri sidecarOutbound) =>
        _outbound = new HttpClient(new SocketsHttpHandler { Proxy = new WebProxy(sidecarOutbound), UseProxy = true }) { Timeout = TimeSpan.FromSeconds(10) };

    private async Task AnswerAsync(HttpContext context, string? next)
    {
        var chain = new JsonArray(new JsonObject { ["service"] = Service, ["caller"] = CallerOf(context.Request.Headers[CallerIdentityMiddleware.HeaderName].ToString()) });
        if (next is not null)
        {
            var url = $"http://{next}/{next}";
            try
            {
                using var response = await _outbound!.GetAsync(url, context.RequestAborted);
                var body = await response.Content.ReadAsStringAsync(context.RequestAborted);
                if (!response.IsSuccessStatusCode)
                {
                    // The callee's sidecar (or this one) refused: pass on what it said, so the hop that failed is visible.
                    await ProblemResponses.WriteAsync(context, StatusCodes.Status502BadGateway, $"{Service} could not call {next}",
                        $"GET {url} through {Service}'s sidecar answered {(int)response.StatusCode}: {body}", "demo-hop-failed");
                    return;
                }
                foreach (var hop in JsonNode.Parse(body)!["chain"]!.AsArray()) chain.Add(hop!.DeepClone());
            }
            catch (HttpRequestException e)
            {
                await ProblemResponses.WriteAsync(context, StatusCodes.Status502BadGateway, $"{Service} could not call {next}", $"GET {url} through {Service}'s sidecar: {e.Message}", "demo-hop-failed");
                return;
            }
        }
        await DemoServices.WriteAsync(context, new JsonObject { ["chain"] = chain });
    }

    /// <summary>The caller's SPIFFE id from <c>By=…;URI=…</c>; null when the sidecar named no caller.</summary>
    internal static string? CallerOf(string header)
    {
        foreach (var part in header.Split(';', StringSplitOptions.TrimEntries))
        {
            if (part.StartsWith("URI=", StringComparison.OrdinalIgnoreCase)) return part[4..];
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _outbound?.Dispose();
    }
}
