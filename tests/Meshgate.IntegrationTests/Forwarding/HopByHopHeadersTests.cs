using System.Text;
using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Forwarding;

/// <summary>
/// Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection; the gateway ends that connection,
/// so neither the client's nor the upstream's may cross it. Sent over a raw socket, because HttpClient
/// rewrites some of them itself.
/// </summary>
public sealed class HopByHopHeadersTests : IAsyncLifetime
{
    private TestUpstream _echo = null!;
    private readonly Dictionary<string, TestGateway> _gateways = [];

    public async Task InitializeAsync()
    {
        _echo = await EchoUpstream.StartAsync(context =>
        {
            if (context.Request.Path != "/hop-response") return;
            var headers = context.Response.Headers;
            headers["Keep-Alive"] = "timeout=5, max=100";
            headers["Proxy-Connection"] = "keep-alive";
            headers["Upgrade"] = "h2c";
            headers["Connection"] = "x-upstream-hop";
            headers["x-upstream-hop"] = "connection-scoped";
            headers["x-end-to-end"] = "kept";
        });
        foreach (var forwarder in new[] { "auto", "yarp" })
        {
            _gateways[forwarder] = await TestGateway.StartAsync($$"""
                routes:
                  - { id: all, match: { path: "/{**rest}" }, cluster: echo }
                clusters:
                  - { id: echo, endpoints: ["{{_echo.Endpoint}}"], forwarder: {{forwarder}} }
                """);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways.Values) await gateway.DisposeAsync();
        await _echo.DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task RequestHopByHopHeaders_NotForwardedUpstream(string forwarder)
    {
        var gateway = _gateways[forwarder];
        // Kestrel reduces "Connection: close, x" and "keep-alive, x" to the keep-alive token alone (the
        // gateway never sees x named), so the request under test names only its own header, and a
        // second, pipelined request closes the connection.
        var response = await RawHttp.SendAsync(gateway.Url, $"""
            POST /hop-request HTTP/1.1
            Host: {gateway.Url.Authority}
            Connection: x-client-hop
            Keep-Alive: timeout=5
            TE: gzip
            Transfer-Encoding: chunked
            Upgrade: websocket
            Proxy-Connection: keep-alive
            x-client-hop: connection-scoped
            x-end-to-end: kept

            5
            hello
            0

            HEAD /done HTTP/1.1
            Host: {gateway.Url.Authority}
            Connection: close


            """);

        Assert.Equal(200, response.Status);
        var json = Encoding.ASCII.GetBytes(response.Body[response.Body.IndexOf('{')..]);
        var reader = new Utf8JsonReader(json);
        using var echoed = JsonDocument.ParseValue(ref reader);
        var received = echoed.RootElement.GetProperty("headers").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString(), StringComparer.OrdinalIgnoreCase);
        Assert.Equal("/hop-request", echoed.RootElement.GetProperty("path").GetString());
        Assert.Equal("kept", received.GetValueOrDefault("x-end-to-end"));
        Assert.Equal(5, echoed.RootElement.GetProperty("bodyLength").GetInt64());
        // Transfer-Encoding is hop-by-hop too, but the gateway frames the forwarded body with its own (and refuses any coding but chunked).
        foreach (var name in new[] { "Connection", "Keep-Alive", "TE", "Upgrade", "Proxy-Connection", "x-client-hop" })
        {
            Assert.False(received.ContainsKey(name), $"the upstream received the client's hop-by-hop header {name}: {received.GetValueOrDefault(name)}");
        }
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task ResponseHopByHopHeaders_NotPassedToClient(string forwarder)
    {
        var gateway = _gateways[forwarder];
        var response = await RawHttp.SendAsync(gateway.Url, $"""
            GET /hop-response HTTP/1.1
            Host: {gateway.Url.Authority}
            Connection: close


            """);

        Assert.Equal(200, response.Status);
        Assert.Equal(["kept"], response.Values("x-end-to-end"));
        foreach (var name in new[] { "Keep-Alive", "Proxy-Connection", "Upgrade", "x-upstream-hop" })
        {
            Assert.False(response.Has(name), $"the client received the upstream's hop-by-hop header {name}:\n{response.Raw}");
        }
        // Connection may only be the gateway's own (close, as the client asked), never the upstream's list.
        Assert.All(response.Values("Connection"), v => Assert.DoesNotContain("x-upstream-hop", v, StringComparison.OrdinalIgnoreCase));
        gateway.AssertServedBy(forwarder);
    }
}
