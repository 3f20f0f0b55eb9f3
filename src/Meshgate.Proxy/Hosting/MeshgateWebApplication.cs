using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Meshgate.Proxy.Hosting;

/// <summary>Where every ASP.NET Core host of the process starts: the gateway, its admin API, the control plane, the demo services.</summary>
public static class MeshgateWebApplication
{
    /// <summary>
    /// Whether the runtime was asked to run socket completions on its event threads
    /// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, read by the runtime at start). Kestrel then runs its
    /// connections' work inline too, as its documentation advises for that setting: the process becomes one event loop
    /// per core, with no hop to the thread pool between a socket's readiness and the request's code.
    /// </summary>
    public static bool InlineScheduling { get; } = Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") == "1";

    /// <summary>
    /// ASP.NET Core's slim builder, without its watch on appsettings.json. Meshgate reads no appsettings file, but the
    /// watch is a recursive inotify watch on the working directory, made once per host: started from a directory
    /// with logs or builds under it, the process spent CPU on every file written anywhere below (1.7% of the gateway's
    /// CPU under load in bench/cpu.sh, started from the repository).
    /// </summary>
    public static WebApplicationBuilder CreateBuilder()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        if (InlineScheduling) builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = true);
        return builder;
    }
}
