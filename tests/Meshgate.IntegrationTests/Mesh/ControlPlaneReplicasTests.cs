using System.Net;
using Grpc.Net.Client;
using Meshgate.Mesh.V1;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>
/// Two `meshgate control-plane --store etcd://` processes on one real etcd: the replicas a user runs. One is killed
/// (SIGKILL, no goodbye); the other keeps the mesh, including what was registered through the dead one.
/// </summary>
[Trait("Runs", "meshgate")]
public sealed class ControlPlaneReplicasTests : IAsyncLifetime
{
    private EtcdServer _etcd = null!;

    public async Task InitializeAsync() => _etcd = await EtcdServer.StartAsync();

    public async Task DisposeAsync() => await _etcd.DisposeAsync();

    private MeshgateProcess Replica() =>
        MeshgateProcess.Start("control-plane", "--store", _etcd.StoreUrl, "--etcd-prefix", "/it/", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--ttl", "3s", "--insecure-plaintext");

    [Fact]
    public async Task ReplicaKilled_TheOtherKeepsItsRegistrationsAndServesWatchers()
    {
        await using var a = Replica();
        await using var b = Replica();
        var aUrls = await a.WaitForListenersAsync(2, TimeSpan.FromSeconds(30));
        var bUrls = await b.WaitForListenersAsync(2, TimeSpan.FromSeconds(30));
        using var aChannel = GrpcChannel.ForAddress(aUrls[0]);
        using var bChannel = GrpcChannel.ForAddress(bUrls[0]);

        await b.CheckAsync(async () =>
        {
            await new Registry.RegistryClient(aChannel).RegisterAsync(new RegisterRequest { Service = "orders", InstanceId = "orders-1", Address = "10.0.0.1", Port = 8080 });
            using var watch = new Distribution.DistributionClient(bChannel).Watch(new WatchRequest { ProxyId = "sidecar-1", Kind = "sidecar" });
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            MeshSnapshot snapshot;
            do
            {
                Assert.True(await watch.ResponseStream.MoveNext(timeout.Token));
                snapshot = watch.ResponseStream.Current;
            }
            while (!snapshot.Services.Any(s => s.Name == "orders"));

            a.Signal("KILL");
            await a.WaitForExitAsync(TimeSpan.FromSeconds(10));

            // Heartbeats now reach B only; for longer than the 3 s TTL the instance stays, so the lease is not A's.
            var registry = new Registry.RegistryClient(bChannel);
            for (var i = 0; i < 10; i++)
            {
                await registry.HeartbeatAsync(new HeartbeatRequest { InstanceId = "orders-1" });
                await Task.Delay(500);
            }
            using var admin = new HttpClient { BaseAddress = bUrls[1] };
            Assert.Contains("\"orders-1\"", await admin.GetStringAsync("/admin/services"));
            Assert.Equal("ready\n", await admin.GetStringAsync("/admin/health/ready"));

            // And once its heartbeats stop, it leaves: B's watcher gets a snapshot without it.
            do
            {
                Assert.True(await watch.ResponseStream.MoveNext(timeout.Token));
                snapshot = watch.ResponseStream.Current;
            }
            while (snapshot.Services.Any(s => s.Name == "orders"));
        });

        b.Signal("TERM");
        Assert.Equal(0, await b.WaitForExitAsync(TimeSpan.FromSeconds(15)));
    }
}
