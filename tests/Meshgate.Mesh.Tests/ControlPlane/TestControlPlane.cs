using System.Net;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.V1;
using Meshgate.TestKit;

namespace Meshgate.Mesh.Tests.ControlPlane;

/// <summary>A real control plane on 127.0.0.1 port 0 (gRPC over h2c, admin over HTTP/1.1) and clients for it.</summary>
internal sealed class TestControlPlane : IAsyncDisposable
{
    private TestControlPlane(ControlPlaneServer server)
    {
        Server = server;
        Channel = GrpcChannel.ForAddress(server.GrpcAddress);
        Registry = new Registry.RegistryClient(Channel);
        Distribution = new Distribution.DistributionClient(Channel);
        Admin = new HttpClient { BaseAddress = server.AdminAddress };
    }

    public ControlPlaneServer Server { get; }
    public GrpcChannel Channel { get; }
    public Registry.RegistryClient Registry { get; }
    public Distribution.DistributionClient Distribution { get; }
    public HttpClient Admin { get; }

    public static async Task<TestControlPlane> StartAsync(TimeSpan? ttl = null, TimeProvider? time = null, string? statePath = null, MeshPolicies? policies = null, IPEndPoint? listen = null,
        Mesh.ControlPlane.Etcd.EtcdStoreOptions? etcd = null, Mesh.CertificateAuthority.CertificateAuthorityOptions? ca = null)
    {
        var server = new ControlPlaneServer(new ControlPlaneOptions
        {
            Listen = listen ?? new IPEndPoint(IPAddress.Loopback, 0),
            Admin = new IPEndPoint(IPAddress.Loopback, 0),
            Ttl = ttl ?? TimeSpan.FromSeconds(30),
            SweepInterval = TimeSpan.FromMilliseconds(50),
            Coalesce = TimeSpan.FromMilliseconds(20),
            StatePath = statePath,
            Etcd = etcd,
            CertificateAuthority = ca,
            Time = time ?? TimeProvider.System,
        }, policies);
        try
        {
            await server.StartAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return new TestControlPlane(server);
    }

    public static RegisterRequest Instance(string service, string id, int port = 8080, string version = "v1") =>
        new() { Service = service, InstanceId = id, Address = "10.0.0.1", Port = port, Labels = { ["version"] = version } };

    public async Task<JsonElement> AdminJsonAsync(string path)
    {
        using var response = await Admin.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        Channel.Dispose();
        await Server.DisposeAsync();
    }
}

/// <summary>A watch call read one snapshot at a time, with a deadline so a missing push fails the test instead of hanging it.</summary>
internal sealed class Watcher(AsyncServerStreamingCall<MeshSnapshot> call) : IDisposable
{
    public static Watcher Start(Distribution.DistributionClient client, string proxyId, string kind = "sidecar") =>
        new(client.Watch(new WatchRequest { ProxyId = proxyId, Kind = kind }));

    /// <summary>Reads snapshots until one matches; fails after 10 s.</summary>
    public async Task<MeshSnapshot> NextMatchingAsync(Func<MeshSnapshot, bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            if (condition(call.ResponseStream.Current)) return call.ResponseStream.Current;
        }
        throw new InvalidOperationException("the watch ended without a matching snapshot");
    }

    public static bool Has(MeshSnapshot snapshot, string service, string instanceId) =>
        snapshot.Services.Any(s => s.Name == service && s.Instances.Any(i => i.InstanceId == instanceId));

    public void Dispose() => call.Dispose();
}
