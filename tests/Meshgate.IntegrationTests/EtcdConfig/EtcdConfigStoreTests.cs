using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.EtcdConfig;

/// <summary>The etcd store's compare-and-swap against a real etcd, including changes made straight in etcd.</summary>
public sealed class EtcdConfigStoreTests : IAsyncLifetime
{
    private EtcdServer _etcd = null!;
    private readonly string _prefix = $"/test-{Guid.NewGuid():N}/config/";

    private static string Config(params string[] routes) => EtcdNodes.Config(
        "routes:\n" + string.Concat(routes.Select(r => $"  - id: {r}\n    match: {{ pathPrefix: /{r} }}\n    cluster: c\n"))
        + "clusters:\n  - id: c\n    endpoints: [http://127.0.0.1:5000]\n");

    public async Task InitializeAsync() => _etcd = await EtcdServer.StartAsync();

    public async Task DisposeAsync() => await _etcd.DisposeAsync();

    [Fact]
    public async Task Write_ThenRead_GivesTheWrittenRevision_AndRemovedObjectsLoseTheirKeys()
    {
        using var store = EtcdNodes.Store(_etcd, _prefix);
        var first = await store.WriteAsync(Config("a", "b"), (await store.ReadAsync()).Revision);
        Assert.True(first.Written);
        Assert.Equal(first.Current, await store.ReadAsync());

        var second = await store.WriteAsync(Config("a"), first.Current.Revision);
        Assert.True(second.Written);
        using var etcd = new dotnet_etcd.EtcdClient("http://" + _etcd.Endpoint);
        var keys = (await etcd.GetRangeAsync(_prefix)).Kvs.Select(kv => kv.Key.ToStringUtf8()[_prefix.Length..]);
        Assert.Equal(["clusters/c", "routes/a", "settings"], keys);
    }

    [Fact]
    public async Task RacingWriters_FromTheSameRevision_ExactlyOneWrites()
    {
        using var seed = EtcdNodes.Store(_etcd, _prefix);
        var start = (await seed.WriteAsync(Config("a"), (await seed.ReadAsync()).Revision)).Current.Revision;
        var stores = Enumerable.Range(0, 8).Select(_ => EtcdNodes.Store(_etcd, _prefix)).ToList();
        try
        {
            var writes = await Task.WhenAll(stores.Select((s, i) => s.WriteAsync(Config("a", $"r{i}"), start)));
            Assert.Equal(1, writes.Count(w => w.Written));
            var winner = writes.Single(w => w.Written).Current;
            Assert.Equal(winner, await seed.ReadAsync());
            Assert.All(writes.Where(w => !w.Written), w => Assert.Equal(winner.Revision, w.Current.Revision));
        }
        finally
        {
            foreach (var store in stores) store.Dispose();
        }
    }

    [Theory]
    [InlineData("delete")]
    [InlineData("change")]
    [InlineData("create")]
    public async Task AChangeStraightInEtcd_MakesAWriteFromTheOldRevisionAConflict(string change)
    {
        using var store = EtcdNodes.Store(_etcd, _prefix);
        var read = (await store.WriteAsync(Config("a", "b"), (await store.ReadAsync()).Revision)).Current;
        using var etcd = new dotnet_etcd.EtcdClient("http://" + _etcd.Endpoint);
        switch (change)
        {
            case "delete": await etcd.DeleteAsync(_prefix + "routes/b"); break;
            case "change": await etcd.PutAsync(_prefix + "routes/b", "match: { pathPrefix: /other }\ncluster: c\n"); break;
            default: await etcd.PutAsync(_prefix + "routes/x", "match: { pathPrefix: /x }\ncluster: c\n"); break;
        }

        var write = await store.WriteAsync(Config("a", "b", "c"), read.Revision);

        Assert.False(write.Written);
        Assert.NotEqual(read.Revision, write.Current.Revision);
        Assert.DoesNotContain("/c", (await store.ReadAsync()).Yaml);
    }
}
