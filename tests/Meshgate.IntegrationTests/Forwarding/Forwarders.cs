using Meshgate.Proxy.Upstream.Http1;
using Meshgate.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.Forwarding;

/// <summary>
/// The two forwarders a cluster can use (<c>forwarder: auto</c> takes the direct HTTP/1.1 path for plain http:// clusters,
/// <c>forwarder: direct</c> for TLS and mesh clusters too,
/// <c>forwarder: yarp</c> YARP's), so forwarding behaviour tests run on both and can check which one served them.
/// </summary>
public static class Forwarders
{
    public static TheoryData<string> Both => new() { "auto", "yarp" };

    /// <summary>For TLS and mesh clusters, which <c>forwarder: auto</c> leaves to YARP (HTTP/2 multiplexes over TLS): the direct path by name.</summary>
    public static TheoryData<string> BothOverTls => new() { "direct", "yarp" };

    /// <summary>Requests the gateway's direct HTTP/1.1 path has forwarded since it started.</summary>
    public static long DirectRequests(this TestGateway gateway) => gateway.Host.Gateway.Services.GetRequiredService<Http1ConnectionPool>().Requests;

    /// <summary>Connections the direct path has opened to upstreams since the gateway started.</summary>
    public static long DirectConnectionsOpened(this TestGateway gateway) => gateway.Host.Gateway.Services.GetRequiredService<Http1ConnectionPool>().Opened;

    /// <summary>Fails unless the requests so far took the path <paramref name="forwarder"/> asks for.</summary>
    public static void AssertServedBy(this TestGateway gateway, string forwarder)
    {
        var direct = gateway.DirectRequests();
        if (forwarder == "yarp") Assert.True(direct == 0, $"forwarder: yarp, yet the direct path forwarded {direct} requests");
        else Assert.True(direct > 0, $"forwarder: {forwarder}, yet the direct path forwarded nothing (YARP did)");
    }
}
