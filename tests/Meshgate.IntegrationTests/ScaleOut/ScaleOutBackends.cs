using Meshgate.IntegrationTests.Caching;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.ScaleOut;

/// <summary>
/// What the gateway nodes of docs/scale-out.md's example stand on: a real etcd holding that config (pushed under a
/// prefix of its own), a real Redis for the shared limit and cache, and the two upstreams its routes name.
/// </summary>
internal sealed class ScaleOutBackends : IAsyncDisposable
{
    private ScaleOutBackends(EtcdServer etcd, RedisServer redis, RecordingUpstream partner, CacheUpstream catalog) =>
        (Etcd, Redis, Partner, Catalog) = (etcd, redis, partner, catalog);

    public EtcdServer Etcd { get; }
    public RedisServer Redis { get; }
    public RecordingUpstream Partner { get; }
    public CacheUpstream Catalog { get; }
    public string Prefix { get; } = $"/test-{Guid.NewGuid():N}/config/";

    public static async Task<ScaleOutBackends> StartAsync()
    {
        var backends = new ScaleOutBackends(await EtcdServer.StartAsync(), await RedisServer.StartAsync(), await RecordingUpstream.StartAsync(), await CacheUpstream.StartAsync());
        await GatewayProcesses.PushAsync(backends.Etcd, backends.Prefix,
            ScaleOutExamples.GatewayYamlForTest(backends.Redis.Connection, backends.Partner.Endpoint, backends.Catalog.Endpoint));
        return backends;
    }

    /// <summary><paramref name="count"/> `meshgate gateway --etcd` processes on the pushed config.</summary>
    public Task<GatewayProcesses> StartNodesAsync(int count) => GatewayProcesses.StartAsync(Etcd, Prefix, count);

    public async ValueTask DisposeAsync()
    {
        await Catalog.DisposeAsync();
        await Partner.DisposeAsync();
        await Redis.DisposeAsync();
        await Etcd.DisposeAsync();
    }
}
