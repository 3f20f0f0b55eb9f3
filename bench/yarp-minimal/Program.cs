// Bare YARP: one catch-all route to one upstream, nothing else. This is the
// floor Meshgate is compared against, so it must stay minimal.
// Usage: yarp-minimal <listen-url> <upstream-url>
using Yarp.ReverseProxy.Configuration;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: yarp-minimal <listen-url> <upstream-url>");
    return 2;
}

var builder = WebApplication.CreateBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.UseUrls(args[0]);

var routes = new[]
{
    new RouteConfig
    {
        RouteId = "all",
        ClusterId = "upstream",
        Match = new RouteMatch { Path = "/{**rest}" },
    },
};
var clusters = new[]
{
    new ClusterConfig
    {
        ClusterId = "upstream",
        Destinations = new Dictionary<string, DestinationConfig>
        {
            ["u1"] = new DestinationConfig { Address = args[1] },
        },
    },
};

builder.Services.AddReverseProxy().LoadFromMemory(routes, clusters);

var app = builder.Build();
app.MapReverseProxy();
app.Run();
return 0;
