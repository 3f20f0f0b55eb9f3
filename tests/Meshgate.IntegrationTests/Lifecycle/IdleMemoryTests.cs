using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Lifecycle;

/// <summary>
/// What the gateway process loads for features its config does not use (docs/performance.md#memory). Each assembly
/// loaded and run at start costs idle RSS; a bound on RSS itself would be fragile, so these tests check the causes.
/// Against a Native AOT publish there are no assemblies to load: the test checks that none is, and OpenSSL.
/// </summary>
[Trait("Runs", "meshgate")]
public sealed class IdleMemoryTests
{
    [Fact]
    public async Task Gateway_AfterStartAndRequests_LoadsNoAssemblyItsConfigDoesNotUse()
    {
        await using var upstream = await TestUpstream.StartAsync(app => app.MapGet("/hello", () => "hello"));
        var dir = TempDirectory.Create();
        var config = Path.Combine(dir, "meshgate.yaml");
        // A CORS policy on one route: its step is built at start whether or not a request needs it.
        await File.WriteAllTextAsync(config, $$"""
            listeners:
              - name: public
                address: 127.0.0.1:0
            admin:
              address: 127.0.0.1:0
            cors:
              web: { origins: [https://app.example.com], methods: [GET] }
            routes:
              - id: web
                match: { pathPrefix: /web }
                cluster: app
                cors: web
                transforms: { stripPrefix: /web }
              - id: all
                match: { pathPrefix: / }
                cluster: app
            clusters:
              - id: app
                endpoints: ["{{upstream.Endpoint}}"]
            """);
        await using var process = MeshgateProcess.Start("gateway", "-c", config);
        var urls = await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = urls[0], Timeout = TimeSpan.FromSeconds(20) };

        using var plain = await client.GetAsync("/hello");
        using var cors = new HttpRequestMessage(HttpMethod.Get, "/web/hello") { Headers = { { "Origin", "https://app.example.com" } } };
        using var withCors = await client.SendAsync(cors);

        // Every managed assembly the runtime loads is mapped from its file.
        var mapped = await File.ReadAllTextAsync($"/proc/{process.Id}/maps");
        await process.CheckAsync(() =>
        {
            Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
            Assert.Equal(HttpStatusCode.OK, withCors.StatusCode);
            Assert.Equal("https://app.example.com", withCors.Headers.GetValues("Access-Control-Allow-Origin").Single());
            // No TLS, JWT or API keys in this config: nothing needs OpenSSL (the config's revision is not a SHA-256).
            Assert.DoesNotContain("libcrypto", mapped);
            if (MeshgateProcess.NativeAot)
            {
                // All of the code is in the executable: nothing is loaded from an assembly's file at run time.
                Assert.DoesNotContain(".dll", mapped);
                return Task.CompletedTask;
            }
            Assert.Contains("Meshgate.Proxy.dll", mapped);
            // Data Protection's key ring (XML key files) is loaded only when something protects a value.
            Assert.DoesNotContain("System.Private.Xml.dll", mapped);
            // The CORS step is placed without UseMiddleware's compiled expression tree.
            Assert.DoesNotContain("System.Linq.Expressions.dll", mapped);
            // No mesh section: the mesh's assembly and gRPC's protobuf stay out (GatewayHost names mesh types only in GatewayMesh).
            Assert.DoesNotContain("Meshgate.Mesh.dll", mapped);
            Assert.DoesNotContain("Google.Protobuf.dll", mapped);
            // Metrics are on, but OpenTelemetry's default resource (its service name from the process's name) is not used.
            Assert.Contains("OpenTelemetry.dll", mapped);
            Assert.DoesNotContain("System.Diagnostics.Process.dll", mapped);
            return Task.CompletedTask;
        });
    }
}
