using Grpc.Core;
using Grpc.Net.Client;
using Meshgate.IntegrationTests.Forwarding.Grpc;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.Forwarding;

/// <summary>
/// gRPC over h2c end to end: client → gateway listener with protocols [http2] → cluster with
/// httpVersion "2" → an HTTP/2-only plaintext upstream. Statuses and trailers must arrive intact.
/// </summary>
public sealed class GrpcTests : IAsyncLifetime
{
    private TestUpstream _upstream = null!;
    private TestGateway _gateway = null!;
    private GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        _upstream = await TestUpstream.StartAsync(
            app => app.MapGrpcService<GreeterService>(),
            HttpProtocols.Http2,
            services: s => s.AddGrpc());
        _gateway = await TestGateway.StartAsync($$"""
            listeners:
              - name: h2c
                address: 127.0.0.1:0
                protocols: [http2]
            routes:
              - { id: grpc, match: { pathPrefix: /meshgate.tests.Greeter }, cluster: greeter }
            clusters:
              - id: greeter
                httpVersion: "2"
                endpoints: ["{{_upstream.Endpoint}}"]
            """);
        _channel = GrpcChannel.ForAddress(_gateway.Url);
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private Greeter.GreeterClient Client => new(_channel);

    private static CallOptions Deadline => new(deadline: DateTime.UtcNow.AddSeconds(10));

    [Fact]
    public async Task SayHello_Unary_ReplyAndTrailersArrive()
    {
        using var call = Client.SayHelloAsync(new HelloRequest { Name = "mesh" }, Deadline);
        var reply = await call.ResponseAsync;
        Assert.Equal("Hello mesh", reply.Message);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("greeter", (await call.ResponseHeadersAsync).GetValue("x-served-by"));
        Assert.Equal("unary", call.GetTrailers().GetValue("x-call-kind"));
    }

    [Fact]
    public async Task Count_ServerStreaming_YieldsEveryItemInOrder()
    {
        using var call = Client.Count(new CountRequest { To = 200 }, Deadline);
        var values = new List<int>();
        await foreach (var item in call.ResponseStream.ReadAllAsync())
        {
            values.Add(item.Value);
        }
        Assert.Equal(Enumerable.Range(1, 200), values);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("200", call.GetTrailers().GetValue("x-count"));
    }

    [Fact]
    public async Task SayHello_UpstreamNotFound_StatusAndDetailArriveIntact()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () => await Client.SayHelloAsync(new HelloRequest { Name = "nobody" }, Deadline));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Equal("no greeting for 'nobody'", error.Status.Detail);
        Assert.Equal("nobody", error.Trailers.GetValue("x-missing"));
    }

    [Fact]
    public async Task Count_UpstreamFailsMidStream_ItemsBeforeTheErrorThenTheStatus()
    {
        using var call = Client.Count(new CountRequest { To = -3 }, Deadline);
        var values = new List<int>();
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var item in call.ResponseStream.ReadAllAsync()) values.Add(item.Value);
        });
        Assert.Equal([1, 2, 3], values);
        Assert.Equal(StatusCode.OutOfRange, error.StatusCode);
    }

    /// <summary>Unary and streaming calls; "nobody" is NotFound, and a negative count streams |to| items and then fails.</summary>
    private sealed class GreeterService : Greeter.GreeterBase
    {
        public override async Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
        {
            await context.WriteResponseHeadersAsync(new Metadata { { "x-served-by", "greeter" } });
            if (request.Name == "nobody")
            {
                throw new RpcException(new Status(StatusCode.NotFound, $"no greeting for '{request.Name}'"), new Metadata { { "x-missing", request.Name } });
            }
            context.ResponseTrailers.Add("x-call-kind", "unary");
            return new HelloReply { Message = $"Hello {request.Name}" };
        }

        public override async Task Count(CountRequest request, IServerStreamWriter<CountReply> responseStream, ServerCallContext context)
        {
            for (var i = 1; i <= Math.Abs(request.To); i++)
            {
                await responseStream.WriteAsync(new CountReply { Value = i }, context.CancellationToken);
            }
            if (request.To < 0) throw new RpcException(new Status(StatusCode.OutOfRange, "counted past the end"));
            context.ResponseTrailers.Add("x-count", request.To.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
