using Meshgate.Configuration.Model;
using Meshgate.Proxy.RateLimiting.Redis;
using Meshgate.Proxy.Tests.TestSupport;
using Meshgate.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Proxy.Tests.RateLimiting;

/// <summary>A real redis-server per test class and the shared-limit store on a clock the test moves.</summary>
public abstract class RedisStoreTestBase : IAsyncLifetime
{
    private readonly Meshgate.Proxy.Redis.RedisConnection _connection = new();

    internal ManualClock Clock { get; } = new();

    protected RedisServer Redis { get; private set; } = null!;

    internal RedisRateLimitStore Store { get; private set; } = null!;

    protected RedisStoreDefinition StoreDefinition => new() { Connection = Redis.Connection, Timeout = TimeSpan.FromSeconds(5) };

    public async Task InitializeAsync()
    {
        Redis = await RedisServer.StartAsync();
        Store = new RedisRateLimitStore(NullLogger<RedisRateLimitStore>.Instance, Clock, _connection);
        await ConnectedAsync();
    }

    // The store falls back while its connection is not up. Its first connect gives up after a second and retries in the
    // background, which a loaded CI machine can miss; these tests are about Redis's answers, so they start once connected.
    private async Task ConnectedAsync()
    {
        var multiplexer = await _connection.For(Redis.Connection);
        await Eventually.HoldsAsync(() => Task.FromResult(multiplexer.IsConnected), TimeSpan.FromSeconds(15), $"the store's connection to {Redis.Connection} is up");
    }

    public async Task DisposeAsync()
    {
        await _connection.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
