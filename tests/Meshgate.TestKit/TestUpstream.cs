using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Meshgate.TestKit;

/// <summary>A real Kestrel upstream on 127.0.0.1 with a free port, its endpoints given by the test.</summary>
public sealed class TestUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestUpstream(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    /// <summary>The URL as a config endpoint string, without the trailing slash.</summary>
    public string Endpoint => Url.ToString().TrimEnd('/');

    public IServiceProvider Services => _app.Services;

    public static async Task<TestUpstream> StartAsync(Action<WebApplication> map, HttpProtocols protocols = HttpProtocols.Http1AndHttp2,
        Action<IServiceCollection>? services = null, Action<ListenOptions>? listen = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        services?.Invoke(builder.Services);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(IPAddress.Loopback, 0, o =>
            {
                o.Protocols = protocols;
                listen?.Invoke(o);
            });
        });
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestUpstream(app) { Url = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal)) };
    }

    /// <summary>An upstream whose every response names it in x-upstream, for counting where traffic went.</summary>
    public static Task<TestUpstream> NamedAsync(string name) => StartAsync(app =>
    {
        app.Use((context, next) =>
        {
            context.Response.Headers["x-upstream"] = name;
            return next(context);
        });
        app.MapGet("/healthz", () => "ok");
        app.Map("/{**rest}", (Microsoft.AspNetCore.Http.HttpContext context) => $"{name} {context.Request.Method} {context.Request.Path}{context.Request.QueryString}");
    });

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
