using Microsoft.AspNetCore.Builder;

namespace Meshgate.Proxy.Hosting;

/// <summary>Where every ASP.NET Core host of the process starts: the gateway, its admin API, the control plane, the demo services.</summary>
public static class MeshgateWebApplication
{
    /// <summary>
    /// ASP.NET Core's slim builder, without its watch on appsettings.json. Meshgate reads no appsettings file, but the
    /// watch is a recursive inotify watch on the working directory, made once per host: started from a directory
    /// with logs or builds under it, the process spent CPU on every file written anywhere below (1.7% of the gateway's
    /// CPU under load in bench/cpu.sh, started from the repository).
    /// </summary>
    public static WebApplicationBuilder CreateBuilder() =>
        WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
}
