using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Meshgate.IntegrationTests.Forwarding;
using Meshgate.IntegrationTests.Forwarding.Grpc;
using Meshgate.Mesh.V1;
using Meshgate.TestKit;
using Meshgate.TestKit.Mesh;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>
/// gRPC across the mesh hop: client → gateway (h2c listener) → mesh cluster → a mesh instance serving gRPC over mTLS.
/// On a route the direct HTTP/1.1 path serves, gRPC requests still go through YARP's client, which takes HTTP/2 with
/// the instance (ALPN): the call, its trailers and its status must arrive on both forwarders, and plain requests on the
/// same route take the direct path.
/// </summary>
public sealed class MeshGrpcTests
{
    [Theory]
    [MemberData(nameof(Forwarders.BothOverTls), MemberType = typeof(Forwarders))]
    public async Task GrpcCall_ThroughAMeshCluster_ReplyTrailersAndStatusArrive(string forwarder)
    {
        await using var mesh = await DiscoveryTestMesh.StartAsync();
        await using var instance = await StartGrpcInstanceAsync(mesh);
        await mesh.Registry.RegisterAsync(new RegisterRequest { Service = "orders", InstanceId = "orders-grpc", Address = "127.0.0.1", Port = PortOf(instance) });
        await using var gateway = await TestGateway.StartAsync(mesh.MeshSection() + $$"""
            listeners:
              - { name: h2c, address: 127.0.0.1:0, protocols: [http2] }
              - { name: plain, address: 127.0.0.1:0 }
            routes:
              - { id: orders, match: { pathPrefix: / }, cluster: orders }
            clusters:
              - { id: orders, discovery: mesh, service: orders, forwarder: {{forwarder}} }
            """, identity: mesh.IssueIdentity("gateway"));
        using var plain = new HttpClient { BaseAddress = gateway.Host.ListenerUrls.Single(l => l.Name == "plain").Url };
        await Eventually.HoldsAsync(async () => (await plain.GetAsync("/plain")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(10), "the instance never answered");
        using var channel = GrpcChannel.ForAddress(gateway.Url);
        var client = new Greeter.GreeterClient(channel);

        using var call = client.SayHelloAsync(new HelloRequest { Name = "mesh" }, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)));
        var reply = await call.ResponseAsync;
        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.SayHelloAsync(new HelloRequest { Name = "nobody" }, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10))));

        Assert.Equal("Hello mesh over HTTP/2 from spiffe://test.mesh/ns/default/sa/gateway", reply.Message);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("unary", call.GetTrailers().GetValue("x-call-kind"));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        // The plain requests took the route's forwarder; gRPC went through YARP's client either way.
        gateway.AssertServedBy(forwarder);
    }

    /// <summary>A mesh instance (mTLS with a workload certificate for orders, client certificates required) that serves the greeter.</summary>
    private static async Task<WebApplication> StartGrpcInstanceAsync(DiscoveryTestMesh mesh)
    {
        var certificate = mesh.Issue("orders");
        var bundle = mesh.TrustBundle;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (client, _, _) => Proxy.Tls.CertificateTrust.ChainsTo(client, bundle, DateTimeOffset.UtcNow, Proxy.Tls.CertificateTrust.ClientAuthentication),
        })));
        var app = builder.Build();
        app.MapGrpcService<MeshGreeter>();
        app.MapGet("/plain", () => "plain");
        await app.StartAsync();
        return app;
    }

    private static int PortOf(WebApplication app) => new Uri(app.Urls.First()).Port;

    /// <summary>Says which protocol the hop used and who called (the caller's SPIFFE id from its client certificate).</summary>
    private sealed class MeshGreeter : Greeter.GreeterBase
    {
        public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
        {
            if (request.Name == "nobody") throw new RpcException(new Status(StatusCode.NotFound, "no greeting for 'nobody'"));
            var http = context.GetHttpContext();
            var caller = http.Connection.ClientCertificate?.Extensions.OfType<System.Security.Cryptography.X509Certificates.X509SubjectAlternativeNameExtension>()
                .SelectMany(Proxy.Authorization.AccessRuleEvaluator.SanUris).SingleOrDefault();
            context.ResponseTrailers.Add("x-call-kind", "unary");
            return Task.FromResult(new HelloReply { Message = $"Hello {request.Name} over {http.Request.Protocol} from {caller}" });
        }
    }
}
