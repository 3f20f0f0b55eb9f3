using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.RateLimiting;

/// <summary>A recording upstream and a real redis-server per test, for tests of limits and quotas shared through Redis.</summary>
public abstract class RedisAndUpstreamTestBase : IAsyncLifetime
{
    protected RecordingUpstream Upstream { get; private set; } = null!;

    protected RedisServer Redis { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Upstream = await RecordingUpstream.StartAsync();
        Redis = await RedisServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await Redis.DisposeAsync();
        await Upstream.DisposeAsync();
    }
}
