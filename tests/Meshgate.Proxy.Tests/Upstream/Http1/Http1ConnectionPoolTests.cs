using System.Net;
using System.Net.Sockets;
using Meshgate.Configuration;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Sockets;
using Meshgate.Proxy.Upstream;
using Meshgate.Proxy.Upstream.Http1;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Proxy.Tests.Upstream.Http1;

/// <summary>The pool's destination lookup and its idle connections per loop; connections and reloads end to end are in DirectPoolReloadTests.</summary>
public sealed class Http1ConnectionPoolTests
{
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nroutes: [{ id: r, match: { path: /r }, cluster: a }]\n";

    private static ConfigSnapshot Snapshot(string endpoints)
    {
        var result = ConfigLoader.Load(Head + $"clusters: [{{ id: a, endpoints: [{endpoints}] }}]\n", null, Path.GetTempPath());
        Assert.True(result.Snapshot is not null, string.Join("\n", result.Errors));
        return result.Snapshot;
    }

    private static Http1ConnectionPool Pool(SnapshotAccessor snapshots) =>
        new(snapshots, new UpstreamTlsPolicies(TimeProvider.System, NullLogger<UpstreamTlsPolicy>.Instance), NullLogger<Http1ConnectionPool>.Instance);

    [Fact]
    public void For_EqualAddressesAsDifferentStrings_OneDestination()
    {
        var snapshots = new SnapshotAccessor(Snapshot("http://10.0.0.1:8080"));
        using var pool = Pool(snapshots);
        // Found by the string object first, by value otherwise: the same destination either way, scheme and host in any case.
        var first = pool.For("http://10.0.0.1:8080");
        Assert.Same(first, pool.For(new string("http://10.0.0.1:8080".AsSpan())));
        Assert.Same(first, pool.For(new string("HTTP://10.0.0.1:8080".AsSpan())));
        Assert.Same(first, pool.For("http://10.0.0.1:8080"));
        Assert.Equal(1, pool.Destinations);
    }

    [Fact]
    public void For_AfterTheAddressWasRetired_FreshDestination()
    {
        var address = "http://10.0.0.1:8080";
        var snapshots = new SnapshotAccessor(Snapshot(address));
        using var pool = Pool(snapshots);
        var before = pool.For(address);

        // The same string object looked up again after its destination was retired: not the retired one.
        snapshots.Publish(Snapshot("http://10.0.0.2:8080"));
        pool.RetireRemoved();
        Assert.True(before.Retired);
        // The address comes back, so the retire each swap also queues on the thread pool, whenever it runs, leaves it be
        // (with the address still gone, that retire could retire the fresh destination too, after the lookup below).
        snapshots.Publish(Snapshot(address));
        var after = pool.For(address);
        Assert.NotSame(before, after);
        Assert.False(after.Retired);
        Assert.Same(after, pool.For(address));
    }

    [Fact]
    public async Task IdleConnections_KeptPerLoop_ARequestTakesOnlyItsClientsLoops()
    {
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        upstream.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        upstream.Listen();
        var address = $"http://127.0.0.1:{((IPEndPoint)upstream.LocalEndPoint!).Port}";
        var snapshots = new SnapshotAccessor(Snapshot(address));
        using var pool = Pool(snapshots);
        Assert.True(pool.Epoll);
        var destination = pool.For(address);
        var last = EpollLoop.Count - 1;

        // Made for a client of the last loop, the connection is that loop's; back in the pool, it waits on that loop's stack.
        var connection = await destination.ConnectAsync(TimeSpan.FromSeconds(5), CancellationToken.None, loop: last);
        Assert.Equal(last, connection.Loop);
        destination.Return(connection);

        if (last > 0)
        {
            // A request of another loop's client does not take it: the answer would come back on the last loop's thread.
            Assert.Null(destination.RentIdle(loop: 0));
        }
        Assert.Same(connection, destination.RentIdle(loop: last));

        // With the client's loop not known, any loop's idle connection serves.
        destination.Return(connection);
        Assert.Same(connection, destination.RentIdle());
        Assert.Null(destination.RentIdle());
        connection.Dispose();
    }
}
