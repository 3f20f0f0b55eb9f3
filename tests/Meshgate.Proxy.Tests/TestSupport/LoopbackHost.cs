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
