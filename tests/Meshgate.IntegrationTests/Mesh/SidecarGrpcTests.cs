using System.Net;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Meshgate.IntegrationTests.Forwarding.Grpc;
using Meshgate.Listeners;
using Meshgate.Mesh.Sidecar;
using Meshgate.Roles.Sidecar;
using Meshgate.TestKit;
using Meshgate.TestKit.Mesh;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>
/// gRPC end to end through two sidecars, in-process with a real control plane: a Grpc.Net.Client client → h2c to its
/// sidecar's fixed service port → mTLS (HTTP/2) → the callee's sidecar → h2c to a Kestrel gRPC app. The app serves
/// HTTP/1.1 and h2c on its one port (as Go's h2c handler does), so plain HTTP/1.1 calls on the same service port reach it too.
/// </summary>
public sealed class SidecarGrpcTests : IAsyncLifetime
{
    private TestMesh _mesh = null!;
    private readonly List<IAsyncDisposable> _owned = [];
    private SidecarHost _ordersSidecar = null!;
    private SidecarHost _frontendSidecar = null!;
    private int _servicePort;
    private GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        _mesh = await TestMesh.StartAsync();
        var orders = await TestUpstream.StartAsync(
            app =>
            {
                app.MapGrpcService<OrdersGreeter>();
                app.MapGet("/plain", (HttpContext context) => $"{context.Request.Protocol} xfcc={context.Request.Headers["x-forwarded-client-cert"]}");
            },
            HttpProtocols.Http1AndHttp2,
            services: s => s.AddGrpc(),
            listen: o => o.Use(next => Http2PriorKnowledge.Detect(http2: next, http1: next)));
        _owned.Add(orders);
        var frontend = await TestUpstream.NamedAsync("frontend");
        _owned.Add(frontend);
        _servicePort = DebianServerBinary.FreePort();
        _ordersSidecar = await StartSidecarAsync("orders", orders.Url.Port, new Dictionary<string, int>());
        _frontendSidecar = await StartSidecarAsync("frontend", frontend.Url.Port, new Dictionary<string, int> { ["orders"] = _servicePort });
        using var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_servicePort}") };
        await Eventually.HoldsAsync(async () => (await plain.GetAsync("/plain")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(20), "orders answers through the service port");
        _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{_servicePort}");
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        foreach (var owned in Enumerable.Reverse(_owned)) await owned.DisposeAsync();
        await _mesh.DisposeAsync();
    }

    private async Task<SidecarHost> StartSidecarAsync(string service, int appPort, IReadOnlyDictionary<string, int> servicePorts)
    {
        var sidecar = await _mesh.StartSidecarAsync(service, appPort, o => o with { ServicePorts = servicePorts });
        _owned.Add(sidecar);
        return sidecar;
    }

    private Greeter.GreeterClient Client => new(_channel);

    private static CallOptions Deadline(double seconds = 15) => new(deadline: DateTime.UtcNow.AddSeconds(seconds));

    [Fact]
    public async Task Unary_ThroughTwoSidecars_ArrivesOverH2c_WithTheCallersIdentity_AndTrailers()
    {
        using var call = Client.SayHelloAsync(new HelloRequest { Name = "mesh" }, Deadline());
        var reply = await call.ResponseAsync;

        Assert.StartsWith("Hello mesh over HTTP/2 xfcc=", reply.Message);
        Assert.Contains($"URI={_mesh.SpiffeIdOf("frontend")}", reply.Message);
        Assert.Contains($"By={_mesh.SpiffeIdOf("orders")}", reply.Message);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("orders", (await call.ResponseHeadersAsync).GetValue("x-served-by"));
        Assert.Equal("unary", call.GetTrailers().GetValue("x-call-kind"));
    }

    [Fact]
    public async Task ServerStreaming_ThroughTwoSidecars_YieldsEveryItemInOrder_ThenTheTrailers()
    {
        using var call = Client.Count(new CountRequest { To = 300 }, Deadline());
        var values = new List<int>();
        await foreach (var item in call.ResponseStream.ReadAllAsync()) values.Add(item.Value);

        Assert.Equal(Enumerable.Range(1, 300), values);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("300", call.GetTrailers().GetValue("x-count"));
    }

    [Fact]
    public async Task ErrorStatus_FromTheApp_ArrivesUnchanged_WithItsDetailAndTrailers()
    {
        using var call = Client.SayHelloAsync(new HelloRequest { Name = "nobody" }, Deadline());

        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Equal("no greeting for 'nobody'", error.Status.Detail);
        Assert.Equal("not-found", error.Trailers.GetValue("x-reason"));
    }

    [Fact]
    public async Task Deadline_ReachesTheApp_AndTheCallEndsDeadlineExceeded()
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        using var call = Client.SayHelloAsync(new HelloRequest { Name = "slow" }, Deadline(1));

        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        // The app waits 30 s unless its own deadline (grpc-timeout, passed through both sidecars) cancels it.
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(15), $"the call took {started.Elapsed}");
        await Eventually.HoldsAsync(() => Task.FromResult(OrdersGreeter.SlowCallsCancelled > 0), TimeSpan.FromSeconds(10), "the app saw its deadline pass");
    }

    [Fact]
    public async Task Http11_OnTheSameServicePort_StillWorks_AndReachesTheAppAsHttp11()
    {
        using var client = new HttpClient();

        var body = await client.GetStringAsync($"http://127.0.0.1:{_servicePort}/plain");

        Assert.StartsWith("HTTP/1.1 xfcc=", body);
        Assert.Contains($"URI={_mesh.SpiffeIdOf("frontend")}", body);
    }

    [Fact]
    public async Task H2cOnTheOutboundListener_WithTheServiceAsAuthority_ReachesTheService()
    {
        // What a gRPC client dialling the sidecar's outbound port with the authority set to the service does
        // (grpc-go's WithAuthority); .NET's client cannot send HTTP/2 through an HTTP proxy in cleartext.
        var outbound = _frontendSidecar.ListenerUrl(SidecarConfig.OutboundListener);
        using var channel = GrpcChannel.ForAddress(outbound, new GrpcChannelOptions { HttpHandler = new Authority("orders") { InnerHandler = new SocketsHttpHandler() } });

        var reply = await new Greeter.GreeterClient(channel).SayHelloAsync(new HelloRequest { Name = "proxy" }, Deadline());

        Assert.StartsWith("Hello proxy over HTTP/2 xfcc=", reply.Message);
    }

    [Fact]
    public async Task GrpcWithTheSidecarAsHttpProxy_FailsInTheClientAtOnce_WithAClearReason()
    {
        // HTTP clients send proxied http:// requests as HTTP/1.1; .NET refuses a gRPC call (HTTP/2 exact) that way.
        // (A SocketsHttpHandler gets Grpc.Net.Client's own connection balancer, which dials the address itself, proxy or not.)
        var outbound = _frontendSidecar.ListenerUrl(SidecarConfig.OutboundListener);
        using var channel = GrpcChannel.ForAddress("http://orders", new GrpcChannelOptions { HttpHandler = new HttpClientHandler { Proxy = new WebProxy(outbound), UseProxy = true } });

        var error = await Assert.ThrowsAsync<RpcException>(async () => await new Greeter.GreeterClient(channel).SayHelloAsync(new HelloRequest { Name = "proxy" }, Deadline()));

        Assert.Equal(StatusCode.Internal, error.StatusCode);
        Assert.True(error.ToString().Contains("unable to establish HTTP/2 connection", StringComparison.Ordinal), error.ToString());
    }

    [Fact]
    public async Task Explain_OnTheCalleesSidecar_SaysGrpcTakesYarpAndH2cToTheApp_AndPlainRequestsTheDirectPath()
    {
        using var admin = new HttpClient { BaseAddress = _ordersSidecar.Gateway.AdminUrl };

        using var grpc = JsonDocument.Parse(await admin.GetStringAsync("/admin/explain?method=POST&path=/meshgate.tests.Greeter/SayHello&listener=inbound&header=content-type:application/grpc"));
        using var plain = JsonDocument.Parse(await admin.GetStringAsync("/admin/explain?path=/plain&listener=inbound"));

        var grpcPolicies = grpc.RootElement.GetProperty("policies");
        Assert.Equal("yarp: gRPC request", grpcPolicies.GetProperty("forwarder").GetString());
        Assert.StartsWith("gRPC request: h2c", grpcPolicies.GetProperty("upstreamProtocol").GetString());
        var plainPolicies = plain.RootElement.GetProperty("policies");
        Assert.StartsWith("direct:", plainPolicies.GetProperty("forwarder").GetString());
        Assert.StartsWith("HTTP/1.1 to http:// endpoints", plainPolicies.GetProperty("upstreamProtocol").GetString());
    }

    private sealed class Authority(string authority) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Host = authority;
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>Says which protocol reached the app and who called (the caller's identity as the callee's sidecar passed it on).</summary>
    private sealed class OrdersGreeter : Greeter.GreeterBase
    {
        public static int SlowCallsCancelled;

        public override async Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
        {
            await context.WriteResponseHeadersAsync(new Metadata { { "x-served-by", "orders" } });
            if (request.Name == "nobody")
            {
                context.ResponseTrailers.Add("x-reason", "not-found");
                throw new RpcException(new Status(StatusCode.NotFound, "no greeting for 'nobody'"));
            }
            if (request.Name == "slow")
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(30), context.CancellationToken);
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref SlowCallsCancelled);
                    throw;
                }
            }
            var http = context.GetHttpContext();
            context.ResponseTrailers.Add("x-call-kind", "unary");
            return new HelloReply { Message = $"Hello {request.Name} over {http.Request.Protocol} xfcc={http.Request.Headers["x-forwarded-client-cert"]}" };
        }

        public override async Task Count(CountRequest request, IServerStreamWriter<CountReply> responseStream, ServerCallContext context)
        {
            for (var i = 1; i <= request.To; i++) await responseStream.WriteAsync(new CountReply { Value = i });
            context.ResponseTrailers.Add("x-count", request.To.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
