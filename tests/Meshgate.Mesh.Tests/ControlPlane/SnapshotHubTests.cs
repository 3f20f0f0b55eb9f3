using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.V1;
using Meshgate.TestKit;

namespace Meshgate.Mesh.Tests.ControlPlane;

/// <summary>The hub stamping snapshots with a shared store's revision (etcd's), as replicas on etcd do.</summary>
public sealed class SnapshotHubTests
{
    [Fact]
    public async Task StoreRevision_BecomesTheVersion_NothingNewPublishesNothing_AndAnOlderRevisionNeverLowersIt()
    {
        var registry = new ServiceRegistry(TimeSpan.FromSeconds(30), TimeProvider.System);
        long revision = 10;
        await using var hub = new SnapshotHub(registry, new MeshPolicies(), 0, TimeSpan.Zero, () => Volatile.Read(ref revision));

        registry.Register("orders", "orders-1", "10.0.0.1", 8080, new Dictionary<string, string>());
        await Eventually.HoldsAsync(() => Task.FromResult(hub.Current.Version == 10), TimeSpan.FromSeconds(5), "version 10 is published");

        // A resync that finds what the hub already serves (etcd back after an outage) makes no new version.
        Volatile.Write(ref revision, 12);
        hub.Invalidate();
        await Task.Delay(200);
        Assert.Equal(10, hub.Current.Version);

        // etcd's data replaced by an older copy: the revision went back, the version still goes up.
        Volatile.Write(ref revision, 3);
        registry.Register("users", "users-1", "10.0.0.2", 8080, new Dictionary<string, string>());
        await Eventually.HoldsAsync(() => Task.FromResult(hub.Current.Services.Count == 2), TimeSpan.FromSeconds(5), "users-1 is published");
        Assert.Equal(11, hub.Current.Version);
    }

    [Fact]
    public async Task WithoutAStore_EveryChangeCountsUpByOne_EvenWithTheSameContent()
    {
        var registry = new ServiceRegistry(TimeSpan.FromSeconds(30), TimeProvider.System);
        await using var hub = new SnapshotHub(registry, new MeshPolicies(), 5, TimeSpan.Zero);

        registry.Register("orders", "orders-1", "10.0.0.1", 8080, new Dictionary<string, string>());
        await Eventually.HoldsAsync(() => Task.FromResult(hub.Current.Version == 6), TimeSpan.FromSeconds(5), "version 6 is published");
        hub.Invalidate();
        await Eventually.HoldsAsync(() => Task.FromResult(hub.Current.Version == 7), TimeSpan.FromSeconds(5), "version 7 is published");
    }
}
