using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Tests.TestSupport;

/// <summary>Real Kestrel hosts on 127.0.0.1 port 0 for end-to-end tests.</summary>
internal static class LoopbackHost
{
    public static async Task<WebApplication> StartAsync(Action<WebApplicationBuilder> configureServices, Action<WebApplication> configureApp)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        configureServices(builder);
        var app = builder.Build();
        configureApp(app);
        await app.StartAsync();
        return app;
    }

    /// <summary>The address Kestrel actually bound, read after start because the port was 0.</summary>
    public static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();

    /// <summary>Polls <paramref name="condition"/> until it holds, failing the test after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (stopwatch.Elapsed > timeout)
            {
                Assert.Fail($"Timed out after {timeout} waiting until {what}.");
            }

            await Task.Delay(20);
        }
    }
}

/// <summary>A backend that answers every request with its name, and whose health and status can be switched.</summary>
internal sealed class TestUpstream : IAsyncDisposable
{
    private WebApplication? _app;
    private int _hits;

    private TestUpstream(string name) => Name = name;

    public string Name { get; }

    public string Address => LoopbackHost.Address(_app!);

    /// <summary>Status of <c>/healthz</c>: 200 when true, 503 when false.</summary>
    public volatile bool Healthy = true;

    /// <summary>Status of every other path.</summary>
    public volatile int Status = StatusCodes.Status200OK;

    /// <summary>Requests other than health probes.</summary>
    public int Hits => Volatile.Read(ref _hits);

    public static async Task<TestUpstream> StartAsync(string name)
    {
        var upstream = new TestUpstream(name);
        upstream._app = await LoopbackHost.StartAsync(_ => { }, app => app.Run(upstream.HandleAsync));
        return upstream;
    }

    private Task HandleAsync(HttpContext context)
    {
        if (context.Request.Path == "/healthz")
        {
            context.Response.StatusCode = Healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        }

        Interlocked.Increment(ref _hits);
        context.Response.StatusCode = Status;
        return context.Response.WriteAsync(Name);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
