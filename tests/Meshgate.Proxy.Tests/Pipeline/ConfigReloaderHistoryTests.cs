using Meshgate.Configuration;
using Meshgate.Proxy.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Proxy.Tests.Pipeline;

public sealed class ConfigReloaderHistoryTests
{
    private static ConfigLoader.Result Load(string cluster) => ConfigLoader.Load($$"""
        listeners: [{ name: p, address: 127.0.0.1:8080 }]
        routes:
          - { id: r, match: { path: /x }, cluster: {{cluster}} }
        clusters:
          - { id: c, endpoints: [http://a.example] }
          - { id: d, endpoints: [http://b.example] }
        """, "t.yaml", TestKit.TempDirectory.Create());

    [Fact]
    public async Task History_AppliedRejectedUnchanged_RecordedInOrder()
    {
        var next = Load("c");
        var reloader = new ConfigReloader(new SnapshotAccessor(next.Snapshot!), () => next, NullLogger<ConfigReloader>.Instance);

        next = Load("missing");
        await reloader.ReloadAsync("SIGHUP");
        next = Load("d");
        await reloader.ReloadAsync("file change");
        await reloader.ReloadAsync("admin API");

        var history = reloader.History;
        Assert.Equal(["start", "SIGHUP", "file change", "admin API"], history.Select(a => a.Trigger));
        Assert.Equal([true, false, true, false], history.Select(a => a.Applied));
        Assert.NotEmpty(history[1].Errors);
        Assert.Equal(history[0].Version, history[1].Version);
        Assert.NotEqual(history[1].Version, history[2].Version);
    }

    [Fact]
    public async Task History_ManyReloads_KeepsTheLast20()
    {
        var next = Load("c");
        var reloader = new ConfigReloader(new SnapshotAccessor(next.Snapshot!), () => next, NullLogger<ConfigReloader>.Instance);
        for (var i = 0; i < 30; i++) await reloader.ReloadAsync($"reload {i}");

        Assert.Equal(ConfigReloader.HistoryLength, reloader.History.Count);
        Assert.Equal("reload 10", reloader.History[0].Trigger);
        Assert.Equal("reload 29", reloader.History[^1].Trigger);
    }
}
