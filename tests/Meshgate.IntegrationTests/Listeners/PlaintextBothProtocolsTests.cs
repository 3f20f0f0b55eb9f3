using System.Net;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Meshgate.IntegrationTests.Forwarding.Grpc;
using Meshgate.Listeners;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.Listeners;

/// <summary>
/// A plaintext listener with protocols [http1, http2] serves HTTP/1.1 and h2c (prior knowledge) on one port, told apart
/// by the HTTP/2 preface; HTTP/1.1 there keeps the request-framing filter. Behind it, a cluster under httpVersion: auto
/// sends gRPC as h2c to an http:// endpoint and everything else as HTTP/1.1.
/// </summary>
public sealed class PlaintextBothProtocolsTests : IAsyncLifetime
{
    private TestUpstream _upstream = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        // The upstream also serves both on one port (the same detection), and says which protocol reached it.
        _upstream = await TestUpstream.StartAsync(
            app =>
            {
                app.MapGrpcService<ProtocolGreeter>();
                app.Map("/protocol", (HttpContext context) => context.Request.Protocol);
            },
            HttpProtocols.Http1AndHttp2,
            services: s => s.AddGrpc(),
            listen: o => o.Use(next => Http2PriorKnowledge.Detect(http2: next, http1: next)));
        _gateway = await TestGateway.StartAsync($$"""
            listeners:
              - { name: both, address: 127.0.0.1:0, protocols: [http1, http2] }
              - { name: h1, address: 127.0.0.1:0 }
            routes:
              - { id: all, match: { pathPrefix: / }, cluster: app }
            clusters:
              - { id: app, endpoints: ["{{_upstream.Endpoint}}"] }
            """);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private Uri Listener(string name) => _gateway.Host.ListenerUrls.Single(l => l.Name == name).Url;

    private static HttpRequestMessage H2c(Uri url) => new(HttpMethod.Get, url) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };

    [Fact]
    public async Task Http11AndH2c_OnTheSamePort_AreBothServed_AndPlainRequestsGoUpstreamAsHttp11()
    {
        using var client = new HttpClient();

        using var http1 = await client.GetAsync(new Uri(Listener("both"), "/protocol"));
        using var http2 = await client.SendAsync(H2c(new Uri(Listener("both"), "/protocol")));

        Assert.Equal(HttpVersion.Version11, http1.Version);
        Assert.Equal(HttpVersion.Version20, http2.Version);
        Assert.Equal(HttpStatusCode.OK, http2.StatusCode);
        // httpVersion: auto keeps HTTP/1.1 toward an http:// endpoint for everything but gRPC.
        Assert.Equal("HTTP/1.1", await http1.Content.ReadAsStringAsync());
        Assert.Equal("HTTP/1.1", await http2.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Grpc_OnThePlaintextListener_GoesUpstreamAsH2c_UnderHttpVersionAuto()
    {
        using var channel = GrpcChannel.ForAddress(Listener("both"));

        using var call = new Greeter.GreeterClient(channel).SayHelloAsync(new HelloRequest { Name = "h2c" }, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)));

        Assert.Equal("Hello h2c over HTTP/2", (await call.ResponseAsync).Message);
        Assert.Equal("unary", call.GetTrailers().GetValue("x-call-kind"));
    }

    [Fact]
    public async Task Http11_OnTheBothProtocolsPort_KeepsTheRequestFramingFilter()
    {
        var exchange = await RawHttp.ExchangeAsync(Listener("both"), Encoding.Latin1.GetBytes(
            $"POST /protocol HTTP/1.1\r\nHost: {Listener("both").Authority}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), TimeSpan.FromSeconds(10));

        Assert.StartsWith("HTTP/1.1 400", exchange.Raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task H2c_ToAnHttp11OnlyListener_IsRefusedWithHttp11Required()
    {
        using var client = new HttpClient();

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(H2c(new Uri(Listener("h1"), "/protocol"))));

        Assert.Contains("HTTP_1_1_REQUIRED", error.Message + error.InnerException?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_TellsThePrefaceFromHttp11_AndWaitsOnAPrefix()
    {
        Assert.True(Http2PriorKnowledge.Classify(new("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"u8.ToArray())));
        Assert.Null(Http2PriorKnowledge.Classify(new("PRI * HTTP/2"u8.ToArray())));
        Assert.Null(Http2PriorKnowledge.Classify(new(Array.Empty<byte>())));
        Assert.False(Http2PriorKnowledge.Classify(new("PRIX"u8.ToArray())));
        Assert.False(Http2PriorKnowledge.Classify(new("GET / HTTP/1.1\r\n"u8.ToArray())));
    }

    private sealed class ProtocolGreeter : Greeter.GreeterBase
    {
        public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
        {
            context.ResponseTrailers.Add("x-call-kind", "unary");
            return Task.FromResult(new HelloReply { Message = $"Hello {request.Name} over {context.GetHttpContext().Request.Protocol}" });
        }
    }
}
