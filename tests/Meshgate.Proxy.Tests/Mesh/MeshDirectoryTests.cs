using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Mesh.Discovery;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Configuration;

namespace Meshgate.Proxy.Tests.Mesh;

public sealed class MeshDirectoryTests
{
    private static readonly ClusterConfig OrdersCluster = new() { ClusterId = "orders", Metadata = new Dictionary<string, string> { [MetadataKeys.MeshService] = "orders" } };

    private static MeshDirectory NewDirectory() => new(TimeProvider.System, new SharedRandomSource(), NullLogger<MeshDirectory>.Instance);

    private static MeshInstance Instance(string id, string version, string address = "10.0.0.1", int port = 8443) =>
        new(id, address, port, new Dictionary<string, string> { ["version"] = version });

    private static MeshView View(long version, IReadOnlyList<MeshInstance> orders, params MeshServicePolicy[] policies) =>
        new(version, new Dictionary<string, IReadOnlyList<MeshInstance>> { ["orders"] = orders }, policies.ToDictionary(p => p.Service));

    [Fact]
    public void WithDestinations_BeforeTheFirstSnapshot_HasNone()
    {
        var directory = NewDirectory();
        Assert.False(directory.HasSnapshot);
        Assert.Empty(directory.WithDestinations(OrdersCluster).Destinations!);
    }

    [Fact]
    public void Apply_Instances_BecomeHttpsDestinationsKeyedByInstanceId()
    {
        var directory = NewDirectory();
        Assert.Null(directory.Apply(View(1, [Instance("orders-1", "v1"), Instance("orders-2", "v1", "fd00::7", 9443)])));

        var destinations = directory.WithDestinations(OrdersCluster).Destinations!;
        Assert.Equal("https://10.0.0.1:8443", destinations["orders-1"].Address);
        Assert.Equal("https://[fd00::7]:9443", destinations["orders-2"].Address);
        Assert.Null(destinations["orders-1"].Metadata);
        Assert.Equal(1, directory.Version);
    }

    [Fact]
    public void Apply_Split_SharesEachVersionsWeightAmongItsInstances()
    {
        var directory = NewDirectory();
        var split = new MeshServicePolicy("orders", null, 0, [new VersionWeight("v1", 80), new VersionWeight("v2", 20)]);
        Assert.Null(directory.Apply(View(1, [Instance("a", "v1"), Instance("b", "v1"), Instance("c", "v2"), Instance("d", "v3")], split)));

        var weights = directory.WithDestinations(OrdersCluster).Destinations!.ToDictionary(d => d.Key, d => d.Value.Metadata![MetadataKeys.Weight]);
        Assert.Equal("400", weights["a"]);
        Assert.Equal("400", weights["b"]);
        Assert.Equal("200", weights["c"]);
        Assert.Equal("0", weights["d"]);
    }

    [Fact]
    public void Apply_SplitVersionWithoutInstances_DropsOutAndTheOthersKeepTheirRatio()
    {
        var directory = NewDirectory();
        var split = new MeshServicePolicy("orders", null, 0, [new VersionWeight("v1", 60), new VersionWeight("v2", 20), new VersionWeight("v3", 20)]);
        Assert.Null(directory.Apply(View(1, [Instance("a", "v1"), Instance("c", "v2")], split)));

        var weights = directory.WithDestinations(OrdersCluster).Destinations!.ToDictionary(d => d.Key, d => d.Value.Metadata![MetadataKeys.Weight]);
        Assert.Equal("750", weights["a"]);
        Assert.Equal("250", weights["c"]);
    }

    public static TheoryData<MeshServicePolicy, string> Refused => new()
    {
        { new MeshServicePolicy("orders", null, 10, []), "services[orders]: retry_attempts must be between 0 and 9, found 10" },
        { new MeshServicePolicy("orders", TimeSpan.FromSeconds(-1), 0, []), "services[orders]: timeout must not be negative" },
        { new MeshServicePolicy("orders", null, 0, [new VersionWeight("v1", -5)]), "split weight of version 'v1' is negative (-5)" },
        { new MeshServicePolicy("orders", null, 0, [new VersionWeight("v1", 0)]), "every version in split has weight 0" },
        { new MeshServicePolicy("orders", null, 0, [new VersionWeight("v1", 1), new VersionWeight("v1", 2)]), "version 'v1' appears twice in split" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Apply_PolicyThatCannotApply_IsRefusedWithTheReason_AndThePreviousSnapshotStays(MeshServicePolicy policy, string reason)
    {
        var directory = NewDirectory();
        Assert.Null(directory.Apply(View(1, [Instance("orders-1", "v1")])));

        var error = directory.Apply(View(2, [Instance("orders-2", "v1")], policy));

        Assert.NotNull(error);
        Assert.Contains(reason, error);
        Assert.Equal(1, directory.Version);
        Assert.Equal(["orders-1"], directory.WithDestinations(OrdersCluster).Destinations!.Keys);
    }

    [Fact]
    public void ResilienceOf_ServiceWithoutPolicy_RetriesConnectFailuresOnce_AndPolicyRetriesGatewayErrors()
    {
        var directory = NewDirectory();
        Assert.Null(directory.Apply(View(1, [], new MeshServicePolicy("orders", TimeSpan.FromMilliseconds(300), 2, []))));

        var fallback = directory.ResilienceOf("payments").Policy;
        Assert.Equal(2, fallback.Retry!.Attempts);
        Assert.False(fallback.Retry.RetriesStatus(503));
        Assert.Null(fallback.Timeout);

        var orders = directory.ResilienceOf("orders").Policy;
        Assert.Equal(3, orders.Retry!.Attempts);
        Assert.True(orders.Retry.RetriesStatus(503));
        Assert.Equal(TimeSpan.FromMilliseconds(300), orders.Timeout);
    }
}
