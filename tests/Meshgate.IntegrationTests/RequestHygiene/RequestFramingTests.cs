using System.Text;
using System.Text.RegularExpressions;
using Meshgate.IntegrationTests.Forwarding;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.RequestHygiene;

/// <summary>
/// The connection filter reads HTTP/1.1 framing ahead of Kestrel: these check that it refuses a bad
/// request in the middle of a connection without disturbing the requests before it, and that
/// keep-alive, pipelining and bodies split across many TCP writes go through untouched.
/// </summary>
public sealed partial class RequestFramingTests : IAsyncLifetime
{
    private RecordingUpstream _upstream = null!;
    private readonly Dictionary<string, TestGateway> _gateways = [];

    public async Task InitializeAsync()
    {
        _upstream = await RecordingUpstream.StartAsync();
        foreach (var forwarder in new[] { "auto", "yarp" })
        {
            _gateways[forwarder] = await TestGateway.StartAsync($$"""
                routes:
                  - { id: all, match: { path: "/{**rest}" }, cluster: recording }
                clusters:
                  - { id: recording, endpoints: ["{{_upstream.Endpoint}}"], forwarder: {{forwarder}} }
                """);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways.Values) await gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private Task<RawExchange> SendAsync(string forwarder, string requests, int? writeSize = null, TimeSpan? timeout = null)
    {
        var gateway = _gateways[forwarder];
        return RawHttp.ExchangeAsync(gateway.Url, Encoding.Latin1.GetBytes(requests.Replace("{host}", gateway.Url.Authority, StringComparison.Ordinal)), timeout ?? TimeSpan.FromSeconds(10), writeSize);
    }

    /// <summary>The status codes of every response on the connection, in order.</summary>
    private static List<int> Statuses(RawExchange exchange) =>
        StatusLine().Matches(exchange.Raw).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();

    [GeneratedRegex(@"HTTP/1\.1 (\d{3}) ")]
    private static partial Regex StatusLine();

    [Theory]
    [InlineData("POST /bad HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "auto")]
    [InlineData("POST /bad HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "yarp")]
    [InlineData("POST /bad HTTP/1.1\r\nHost: {host}\r\nContent-Length: +5\r\n\r\nhello", "auto")]
    [InlineData("POST /bad HTTP/1.1\r\nHost: {host}\r\nContent-Length: +5\r\n\r\nhello", "yarp")]
    [InlineData("POST /bad HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5;\u0001bad\r\nhello\r\n0\r\n\r\n", "auto")]
    [InlineData("POST /bad HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5;\u0001bad\r\nhello\r\n0\r\n\r\n", "yarp")]
    public async Task Pipelined_GoodThenBad_200Then400AndClosedAndOnlyTheFirstForwarded(string bad, string forwarder)
    {
        var requests = _upstream.Requests;

        var exchange = await SendAsync(forwarder, "POST /good HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\n\r\nabc" + bad);

        Assert.True(Statuses(exchange) is [200, 400], $"expected 200 then 400, got:\n{exchange.Raw}");
        Assert.Contains("received 3", exchange.Raw, StringComparison.Ordinal);
        Assert.NotEqual(RawClose.StillOpen, exchange.Closed);
        Assert.Equal(requests + 1, _upstream.Requests);
        _gateways[forwarder].AssertServedBy(forwarder);
    }

    [Theory]
    [InlineData(null, "auto")]
    [InlineData(null, "yarp")]
    [InlineData(1, "auto")]
    [InlineData(1, "yarp")] // every byte its own TCP segment
    public async Task KeepAlive_ChunkedWithExtensionsThenContentLengthThenGet_AllForwardedWithTheirBodies(int? writeSize, string forwarder)
    {
        var requests = _upstream.Requests;

        var exchange = await SendAsync(forwarder, 
            "POST /a HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;q=\"x y\"\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n" +
            "POST /b HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\n\r\nabc" +
            "GET /c HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
            writeSize);

        Assert.True(Statuses(exchange) is [200, 200, 200], $"expected three 200s, got:\n{exchange.Raw}");
        var bodies = Regex.Matches(exchange.Raw, "received \\d+").Select(m => m.Value).ToList();
        Assert.Equal(["received 12", "received 3", "received 0"], bodies);
        Assert.Equal(requests + 3, _upstream.Requests);
        _gateways[forwarder].AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task LargeBody_InManyWrites_ForwardedWhole(string forwarder)
    {
        const int length = 200_000;
        var exchange = await SendAsync(forwarder, $"POST /big HTTP/1.1\r\nHost: {{host}}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n" + new string('x', length), writeSize: 4999);

        Assert.True(exchange.Response?.Status == 200, $"expected 200, got:\n{exchange.Raw}");
        Assert.Contains($"received {length}", exchange.Response.Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("upgrade", "auto")]
    [InlineData("upgrade", "yarp")]
    [InlineData("keep-alive, Upgrade", "auto")]
    [InlineData("keep-alive, Upgrade", "yarp")]
    public async Task UpgradeRequestNotUpgraded_ConnectionClosedSoNothingFollowsUninspected(string connection, string forwarder)
    {
        var requests = _upstream.Requests;
        var direct = _gateways[forwarder].DirectRequests();

        // The filter stops reading after a request that may switch protocols; this one is answered 200, not 101,
        // so the gateway closes the connection after it and the smuggled request behind it is never parsed.
        var exchange = await SendAsync(forwarder, 
            "GET /upgrade HTTP/1.1\r\nHost: {host}\r\nConnection: " + connection + "\r\nUpgrade: example\r\n\r\n" +
            "POST /smuggled HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");

        Assert.True(Statuses(exchange) is [200], $"expected one 200, got:\n{exchange.Raw}");
        Assert.Contains("Connection: close", exchange.Raw, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(RawClose.StillOpen, exchange.Closed);
        Assert.Equal(requests + 1, _upstream.Requests);
        // An upgrade request is YARP's on either setting.
        Assert.Equal(direct, _gateways[forwarder].DirectRequests());
    }

    [Fact]
    public async Task H2cListener_PriorKnowledgeHttp2_Forwarded()
    {
        // An HTTP/2-only listener gets no framing filter: Kestrel's HTTP/2 frames every request itself.
        await using var gateway = await TestGateway.StartAsync($$"""
            listeners:
              - { name: h2c, address: "127.0.0.1:0", protocols: [http2] }
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: recording }
            clusters:
              - { id: recording, endpoints: ["{{_upstream.Endpoint}}"] }
            """);
        using var client = new HttpClient();

        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, new Uri(gateway.Url, "/h2")) { Version = System.Net.HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Content = new StringContent("hello") });

        Assert.Equal(System.Net.HttpVersion.Version20, response.Version);
        Assert.Equal("received 5", await response.Content.ReadAsStringAsync());
    }
}
