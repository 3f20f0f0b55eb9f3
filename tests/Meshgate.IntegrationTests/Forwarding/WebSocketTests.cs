using System.Net.WebSockets;
using System.Text;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Forwarding;

/// <summary>WebSocket upgrade through the gateway to a real echoing upstream: messages both ways and the close handshake.</summary>
public sealed class WebSocketTests : IAsyncLifetime
{
    private TestUpstream _upstream = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await TestUpstream.StartAsync(app =>
        {
            app.UseWebSockets();
            app.Map("/ws/echo", EchoAsync);
        });
        _gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: ws, match: { pathPrefix: /ws }, cluster: echo }
              - { id: ws-deadline, match: { pathPrefix: /deadline }, cluster: echo, resilience: short, transforms: { replacePrefix: { from: /deadline, to: /ws } } }
            resilience:
              short: { timeout: 500ms }
            clusters:
              - { id: echo, endpoints: ["{{_upstream.Endpoint}}"] }
            """);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    /// <summary>Echoes each whole message with its type; answers a close with the same status and description.</summary>
    private static async Task EchoAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseAsync(result.CloseStatus ?? WebSocketCloseStatus.NormalClosure, result.CloseStatusDescription, context.RequestAborted);
                return;
            }
            message.Write(buffer, 0, result.Count);
            if (!result.EndOfMessage) continue;
            await socket.SendAsync(message.ToArray(), result.MessageType, endOfMessage: true, context.RequestAborted);
            message.SetLength(0);
        }
    }

    private Uri WebSocketUrl => new UriBuilder(_gateway.Url) { Scheme = "ws", Path = "/ws/echo" }.Uri;

    private static async Task<(WebSocketMessageType Type, byte[] Payload)> ReceiveMessageAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage) return (result.MessageType, message.ToArray());
        }
    }

    [Fact]
    public async Task Echo_TextAndBinaryMessages_ComeBackUnchangedInOrder()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(WebSocketUrl, timeout.Token);
        Assert.Equal(WebSocketState.Open, socket.State);

        // A binary message larger than either side's receive buffer, so it crosses the gateway in fragments.
        var large = new byte[300 * 1024];
        new Random(42).NextBytes(large);
        (WebSocketMessageType Type, byte[] Payload)[] messages =
        [
            (WebSocketMessageType.Text, Encoding.UTF8.GetBytes("hello")),
            (WebSocketMessageType.Binary, [0, 1, 2, 254, 255]),
            (WebSocketMessageType.Text, Encoding.UTF8.GetBytes("grüße, 世界")),
            (WebSocketMessageType.Binary, large),
            (WebSocketMessageType.Text, Encoding.UTF8.GetBytes("last")),
        ];
        foreach (var (type, payload) in messages)
        {
            await socket.SendAsync(payload, type, endOfMessage: true, timeout.Token);
        }
        foreach (var (type, payload) in messages)
        {
            var (gotType, gotPayload) = await ReceiveMessageAsync(socket, timeout.Token);
            Assert.Equal(type, gotType);
            Assert.Equal(payload, gotPayload);
        }
        // The route's cluster is plain http:// (forwarder: auto), yet an upgrade is YARP's to forward.
        Assert.Equal(0, _gateway.DirectRequests());
    }

    [Fact]
    public async Task Close_ClientInitiated_HandshakeCompletesWithStatusAndDescription()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(WebSocketUrl, timeout.Token);
        await socket.SendAsync(Encoding.UTF8.GetBytes("ping"), WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
        var (_, echoed) = await ReceiveMessageAsync(socket, timeout.Token);
        Assert.Equal("ping", Encoding.UTF8.GetString(echoed));

        // CloseAsync returns only once the upstream's close frame has come back through the gateway.
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
        Assert.Equal(WebSocketState.Closed, socket.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        Assert.Equal("bye", socket.CloseStatusDescription);
    }

    [Fact]
    public async Task Upgrade_NoRoute_IsRejectedWith404()
    {
        using var socket = new ClientWebSocket();
        var url = new UriBuilder(_gateway.Url) { Scheme = "ws", Path = "/elsewhere" }.Uri;
        socket.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(url, CancellationToken.None));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, socket.HttpStatusCode);
    }

    [Fact]
    public async Task RouteTimeout_EndsWithTheUpgrade_SoTheSocketOutlivesIt()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new UriBuilder(_gateway.Url) { Scheme = "ws", Path = "/deadline/echo" }.Uri, timeout.Token);

        // Three times the route's 500ms timeout: the deadline would have cut the connection long before.
        await Task.Delay(TimeSpan.FromMilliseconds(1500), timeout.Token);
        await socket.SendAsync(Encoding.UTF8.GetBytes("still here"), WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
        var (type, payload) = await ReceiveMessageAsync(socket, timeout.Token);

        Assert.Equal(WebSocketMessageType.Text, type);
        Assert.Equal("still here", Encoding.UTF8.GetString(payload));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
    }
}
