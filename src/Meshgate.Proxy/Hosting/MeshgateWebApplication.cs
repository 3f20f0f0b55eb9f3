using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Meshgate.Proxy.Hosting;

/// <summary>Where every ASP.NET Core host of the process starts: the gateway, its admin API, the control plane, the demo services.</summary>
public static class MeshgateWebApplication
{
    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Whether the runtime runs socket completions on its event threads (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>,
    /// read by the runtime when the process makes its first socket). Kestrel then runs its connections' work inline too, as
    /// its documentation advises for that setting: the process becomes one event loop per core, with no hop to the thread
    /// pool between a socket's readiness and the request's code. Read when asked, not once: the gateway role sets the
    /// variable at start (<see cref="PreferInlineSockets"/>).
    /// </summary>
    public static bool InlineScheduling => Environment.GetEnvironmentVariable(InlineCompletionsVariable) == "1";

    /// <summary>
    /// Makes the process an event loop per core unless its environment already chose (<c>=0</c> keeps the thread pool).
    /// The runtime has no other switch for it than this variable, read once when the first socket is made, so this must
    /// run before anything opens one: the executable's entry point calls it for the gateway role, and only there (tests
    /// that run commands in their own process must not change it for everything else they start). The gateway role's
    /// request path never blocks a thread, and on the bench it costs 13-16 % less CPU per request
    /// (docs/performance.md#runtime-settings). Roles that do block (the control plane's etcd writes) keep the thread pool.
    /// </summary>
    public static void PreferInlineSockets()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null) Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
    }

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
