using System.Net;
using System.Text.Json;
using Meshgate.Mesh.Identity;
using Meshgate.TestKit;
using Meshgate.TestKit.Mesh;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>
/// A gateway in a mesh whose control plane serves TLS (as `meshgate control-plane` does with its CA): the mesh section's
/// controlPlaneCa lets it verify the control plane and get its workload certificate; the wrong file stops it, saying why.
/// </summary>
public sealed class MeshControlPlaneTlsTests
{
    private static string Gateway(string meshYaml, string app) => $$"""
        {{meshYaml}}
        listeners:
          - name: inbound
            address: 127.0.0.1:0
            meshTls: strict
        routes:
          - { id: app, match: { pathPrefix: / }, cluster: app }
        clusters:
          - { id: app, endpoints: ["{{app}}"] }
        """;

    [Fact]
    public async Task Gateway_WithControlPlaneCa_GetsItsCertificateOverTls_AndServesMeshCallers()
    {
        await using var mesh = await TestMesh.StartAsync(tls: true);
        await using var app = await TestUpstream.StartAsync(a => a.Map("/{**rest}", () => "from the app"));
        var yaml = mesh.MeshYaml("orders");
        Assert.Contains("controlPlane: https://", yaml);
        Assert.Contains($"controlPlaneCa: {mesh.ControlPlaneCaFile}", yaml);

        await using var gateway = await TestGateway.StartAsync(Gateway(yaml, app.Endpoint));
        var frontend = await mesh.IssueIdentityAsync("frontend");
        using var client = TestMesh.Client(frontend);
        using var response = await client.GetAsync(new Uri(gateway.Url, "/orders"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("from the app", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Gateway_WithTheWrongControlPlaneCa_DoesNotStart_NamingTheTlsFailure()
    {
        await using var mesh = await TestMesh.StartAsync(tls: true);
        var directory = TempDirectory.Create();
        using var other = new TestCertificates(directory, "Not The Mesh CA");
        var yaml = mesh.MeshYaml("orders").Replace(mesh.ControlPlaneCaFile!, other.CaPath, StringComparison.Ordinal);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<WorkloadIdentityUnavailableException>(() => TestGateway.StartAsync(Gateway(yaml, "http://127.0.0.1:9"), directory));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"a control plane that does not verify is a configuration error: start-up fails at once, not after the 30 s wait ({watch.Elapsed})");
        Assert.Contains($"TLS handshake with the control plane at {mesh.ControlPlaneUrl} failed", error.Message);
        Assert.Contains($"does not chain to a root in mesh.controlPlaneCa {other.CaPath}", error.Message);
    }

    [Fact]
    public async Task Gateway_MeshWatch_GetsAndAcksSnapshotsOverTls()
    {
        await using var mesh = await TestMesh.StartAsync(tls: true);
        await using var gateway = await TestGateway.StartAsync(mesh.MeshYaml("gateway") + """
            listeners:
              - name: public
                address: 127.0.0.1:0
            routes:
              - { id: orders, match: { pathPrefix: / }, cluster: orders }
            clusters:
              - { id: orders, discovery: mesh, service: orders }
            """, identity: await mesh.IssueIdentityAsync("gateway"));
        using var admin = new HttpClient { BaseAddress = mesh.Server.AdminAddress };

        await Eventually.HoldsAsync(async () =>
        {
            using var proxies = JsonDocument.Parse(await admin.GetStringAsync("/admin/proxies"));
            return proxies.RootElement.GetProperty("proxies").EnumerateArray().Any(p =>
                p.GetProperty("kind").GetString() == "gateway" && p.GetProperty("versionAcked").ValueKind == JsonValueKind.Number && p.GetProperty("versionAcked").GetInt64() > 0);
        }, TimeSpan.FromSeconds(20), "the gateway's mesh watch acks a snapshot it got over TLS");
    }
}
