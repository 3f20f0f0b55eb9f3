using System.Net;
using System.Net.Sockets;
using System.Text;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Listeners;

/// <summary>A listener's limits hold against real clients: oversized headers, oversized bodies, too many connections.</summary>
public sealed class ListenerLimitsTests : IAsyncLifetime
{
    private TestUpstream _upstream = null!;
    private long _bodyBytesSeen;
    private int _requestsSeen;

    public async Task InitializeAsync()
    {
        _upstream = await TestUpstream.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref _requestsSeen);
            var buffer = new byte[1024];
            int read;
            try
            {
                while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0) Interlocked.Add(ref _bodyBytesSeen, read);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or BadHttpRequestException)
            {
                return;
            }
            await context.Response.WriteAsync("ok");
        }));
    }

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private Task<TestGateway> StartAsync(string limits) => TestGateway.StartAsync($$"""
        listeners:
          - name: limited
            address: 127.0.0.1:0
            limits: { {{limits}} }
        routes:
          - { id: all, match: { path: "/{**rest}" }, cluster: up }
        clusters:
          - { id: up, endpoints: ["{{_upstream.Endpoint}}"] }
        """);

    [Fact]
    public async Task MaxRequestHeadersSize_LargerHeaders_Are431()
    {
        await using var gateway = await StartAsync("maxRequestHeadersSize: 4KiB");
        using var small = await gateway.Client.GetAsync("/small");
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/big");
        for (var i = 0; i < 8; i++) request.Headers.Add($"x-filler-{i}", new string('a', 1000));
        using var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        if (response.Headers.Contains("x-meshgate-error"))
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
        Assert.Equal(1, _requestsSeen);
    }

    [Fact]
    public async Task MaxRequestBodySize_LargerBody_Is413AndUpstreamNeverGetsIt()
    {
        await using var gateway = await StartAsync("maxRequestBodySize: 1KiB");
        using var fits = await gateway.Client.PostAsync("/fits", new ByteArrayContent(new byte[512]));
        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        Assert.Equal(512, Interlocked.Read(ref _bodyBytesSeen));

        using var response = await gateway.Client.PostAsync("/too-big", new ByteArrayContent(new byte[2048]));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.InRange(Interlocked.Read(ref _bodyBytesSeen) - 512, 0, 2047);
    }

    private static async Task<TcpClient> OpenKeepAliveAsync(Uri server)
    {
        var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /held HTTP/1.1\r\nHost: {server.Authority}\r\n\r\n"));
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var read = await stream.ReadAsync(buffer, cts.Token);
        var head = Encoding.ASCII.GetString(buffer, 0, read);
        Assert.StartsWith("HTTP/1.1 200", head);
        return client;
    }

    /// <summary>True when the server closed the connection without answering a request sent on it.</summary>
    private static async Task<bool> ClosedWithoutResponseAsync(Uri server)
    {
        using var client = new TcpClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await client.ConnectAsync(server.Host, server.Port, cts.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /third HTTP/1.1\r\nHost: {server.Authority}\r\n\r\n"), cts.Token);
            return await stream.ReadAsync(new byte[1024], cts.Token) == 0;
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            return true;
        }
    }

    [Fact]
    public async Task MaxConcurrentConnections_ThirdConnectionClosedUntilOneCloses()
    {
        await using var gateway = await StartAsync("maxConcurrentConnections: 2");
        var first = await OpenKeepAliveAsync(gateway.Url);
        using var second = await OpenKeepAliveAsync(gateway.Url);

        Assert.True(await ClosedWithoutResponseAsync(gateway.Url), "a third connection got a response while two were open");

        first.Dispose();
        await Eventually.HoldsAsync(async () => !await ClosedWithoutResponseAsync(gateway.Url),
            TimeSpan.FromSeconds(5), "after one of the two connections closed, a new one is served");
    }
}
