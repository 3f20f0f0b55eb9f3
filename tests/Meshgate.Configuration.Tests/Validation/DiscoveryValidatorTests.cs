namespace Meshgate.Configuration.Tests.Validation;

public sealed class DiscoveryValidatorTests
{
    // Line 1 the listener, line 2 the route, lines 3-6 the mesh section; "clusters:" is line 7, the cluster starts on line 8.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nroutes: [{ id: r, match: { path: /r }, cluster: a }]\n"
        + "mesh:\n  controlPlane: http://127.0.0.1:15010\n  service: gateway\n  tokenEnv: PATH\nclusters:\n";
    private const string NoMesh = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nroutes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters:\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        { NoMesh + "  - id: a\n    discovery: mesh\n    service: orders\n", 5, "clusters[0].discovery", "discovery: mesh needs the top-level mesh section" },
        { Head + "  - id: a\n    discovery: mesh\n", 9, "clusters[0].discovery", "discovery: mesh needs service: the mesh service whose instances are the endpoints" },
        { Head + "  - id: a\n    discovery: mesh\n    service: \"or ders\"\n", 10, "clusters[0].service", "'or ders' is not a valid service name" },
        { Head + "  - id: a\n    discovery: mesh\n    service: orders\n    namespace: \"..\"\n", 11, "clusters[0].namespace", "'..' is not a valid namespace" },
        { Head + "  - id: a\n    discovery: mesh\n    service: orders\n    endpoints: [http://10.0.0.1]\n", 11, "clusters[0].endpoints", "must be empty with discovery: mesh: the endpoints are the live instances of service 'orders'" },
        { Head + "  - id: a\n    discovery: mesh\n    service: orders\n    tls: { insecureSkipVerify: true }\n", 11, "clusters[0].tls", "not used with discovery: mesh" },
        { Head + "  - id: a\n    endpoints: [http://10.0.0.1]\n    service: orders\n", 10, "clusters[0].service", "only used with discovery: mesh" },
        { Head + "  - id: a\n    endpoints: [http://10.0.0.1]\n    namespace: shop\n", 10, "clusters[0].namespace", "only used with discovery: mesh" },
        { Head + "  - id: a\n    discovery: dns\n    service: orders\n", 9, "clusters[0].discovery", "static" },
        { Head + "  - id: a\n    discovery: mesh\n    service: orders\n    httpVersion: \"2\"\n    forwarder: direct\n", 12, "clusters[0].forwarder", "cannot: cluster asks for HTTP/2" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidMeshCluster_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Validate_MeshClusterWithForwarderDirect_IsValid()
    {
        var snapshot = ConfigText.Snapshot(Head + "  - id: a\n    discovery: mesh\n    service: orders\n    forwarder: direct\n");
        Assert.Null(snapshot.ClusterPolicies["a"].DirectObstacle);
    }

    [Fact]
    public void Compile_MeshCluster_HasNoDestinationsAndTheMeshNamespaceAndOutlierDetection()
    {
        var snapshot = ConfigText.Snapshot(Head + "  - id: a\n    discovery: mesh\n    service: orders\n");
        var cluster = Assert.Single(snapshot.Clusters);
        Assert.Empty(cluster.Destinations!);
        Assert.Equal("orders", cluster.Metadata![Compilation.MetadataKeys.MeshService]);
        var policy = snapshot.ClusterPolicies["a"];
        Assert.Equal(new Compilation.MeshClusterPolicy("orders", "default"), policy.Mesh);
        Assert.Equal(1, policy.OutlierDetection!.ConsecutiveGatewayErrors);
        Assert.True(cluster.HealthCheck!.Passive!.Enabled);
    }

    [Fact]
    public void Compile_MeshClusterWithNamespace_UsesItsOwn()
    {
        var snapshot = ConfigText.Snapshot(Head + "  - id: a\n    discovery: mesh\n    service: orders\n    namespace: shop\n");
        Assert.Equal(new Compilation.MeshClusterPolicy("orders", "shop"), snapshot.ClusterPolicies["a"].Mesh);
    }
}
