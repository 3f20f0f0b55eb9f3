namespace Meshgate.Configuration.Tests.Sockets;

/// <summary>
/// Which socket engine a config gets (docs/sockets.md): auto takes epoll on Linux unless the process is in a mesh (its
/// hops go over YARP's HTTP/2 on .NET's sockets), with its sends through io_uring; uring, epoll and runtime are taken as
/// written. (The suite runs on Linux, where auto can take epoll.)
/// </summary>
public sealed class SocketEngineChoiceTests
{
    private const string Mesh = "mesh:\n  controlPlane: http://127.0.0.1:15010\n  service: gateway\n  tokenEnv: PATH";

    private static string Config(string sockets, string cluster) => $$"""
        {{sockets}}
        listeners:
          - { name: web, address: "127.0.0.1:0" }
        routes:
          - { id: all, match: { pathPrefix: / }, cluster: up }
        clusters:
          - {{cluster}}
        """;

    [Theory]
    [InlineData("", "{ id: up, endpoints: [\"http://10.0.0.1:80\"] }", true)]
    [InlineData("sockets: auto", "{ id: up, endpoints: [\"http://10.0.0.1:80\"], forwarder: direct }", true)]
    [InlineData("sockets: auto", "{ id: up, endpoints: [\"http://10.0.0.1:80\"], forwarder: yarp }", true)]
    [InlineData("sockets: auto", "{ id: up, endpoints: [\"https://10.0.0.1:443\"] }", true)]
    [InlineData("sockets: auto\n" + Mesh, "{ id: up, endpoints: [\"http://10.0.0.1:80\"] }", false)]
    [InlineData(Mesh, "{ id: up, endpoints: [\"http://10.0.0.1:80\"] }", false)]
    [InlineData("sockets: epoll\n" + Mesh, "{ id: up, endpoints: [\"http://10.0.0.1:80\"] }", true)]
    [InlineData("sockets: runtime", "{ id: up, endpoints: [\"http://10.0.0.1:80\"] }", false)]
    public void Auto_TakesEpollOutsideAMesh(string sockets, string cluster, bool epoll)
    {
        Assert.Equal(epoll, ConfigText.Snapshot(Config(sockets, cluster)).EpollSockets);
    }

    [Theory]
    [InlineData("", true, true)]
    [InlineData("sockets: auto", true, true)]
    [InlineData("sockets: uring", true, true)]
    [InlineData("sockets: epoll", true, false)]
    [InlineData("sockets: runtime", false, false)]
    [InlineData("sockets: auto\n" + Mesh, false, false)]
    [InlineData("sockets: uring\n" + Mesh, true, true)]
    public void SendsThroughRing_WithUringAndWithAutoWhereItTakesEpoll(string sockets, bool epoll, bool ring)
    {
        var snapshot = ConfigText.Snapshot(Config(sockets, "{ id: up, endpoints: [\"http://10.0.0.1:80\"] }"));
        Assert.Equal(epoll, snapshot.EpollSockets);
        Assert.Equal(ring, snapshot.SendsThroughRing);
    }
}
