// Bare YARP: one catch-all route to one upstream, nothing else. This is the
// floor Meshgate is compared against, so it must stay minimal.
// Usage: yarp-minimal <listen-url> <upstream-url> [h2c-port]
// With h2c-port it also listens there on 127.0.0.1 for HTTP/2 with prior knowledge (h2c): Kestrel
// speaks HTTP/2 in plaintext only on an endpoint that offers nothing else.
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Yarp.ReverseProxy.Configuration;

if (args.Length is not (2 or 3))
{
    Console.Error.WriteLine("usage: yarp-minimal <listen-url> <upstream-url> [h2c-port]");
    return 2;
}

var builder = WebApplication.CreateBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
var listen = new Uri(args[0]);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Parse(listen.Host), listen.Port);
    if (args.Length == 3)
    {
        kestrel.Listen(IPAddress.Loopback, int.Parse(args[2]), endpoint => endpoint.Protocols = HttpProtocols.Http2);
    }
});

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
