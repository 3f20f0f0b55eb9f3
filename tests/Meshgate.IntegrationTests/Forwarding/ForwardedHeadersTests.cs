using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Forwarding;

/// <summary>
/// What the upstream is told about the client: from an untrusted peer only what the gateway saw itself,
/// from a trusted proxy the chain it forwards. Consistent hashing on the client address follows the same rule.
/// </summary>
public sealed class ForwardedHeadersTests : IAsyncLifetime
{
    private TestUpstream _echo = null!;

    public async Task InitializeAsync() => _echo = await EchoUpstream.StartAsync();

    public async Task DisposeAsync() => await _echo.DisposeAsync();

    private Task<TestGateway> StartAsync(bool trusted, string forwarder) => TestGateway.StartAsync($$"""
        {{(trusted ? "trustedProxies: [127.0.0.1]" : "")}}
        routes:
          - { id: all, match: { path: "/{**rest}" }, cluster: echo }
        clusters:
          - { id: echo, endpoints: ["{{_echo.Endpoint}}"], forwarder: {{forwarder}} }
        """);

    private static async Task<EchoedRequest> SendSpoofedAsync(TestGateway gateway)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/who");
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", "1.2.3.4");
        request.Headers.TryAddWithoutValidation("Forwarded", "for=1.2.3.4");
        using var response = await gateway.Client.SendAsync(request);
        return await EchoedRequest.ReadAsync(response);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task UntrustedClient_SpoofedHeaders_ReplacedByWhatTheGatewaySaw(string forwarder)
    {
        await using var gateway = await StartAsync(trusted: false, forwarder);

        var echoed = await SendSpoofedAsync(gateway);

        Assert.Equal("127.0.0.1", echoed.Header("X-Forwarded-For"));
        Assert.Null(echoed.Header("Forwarded"));
        Assert.Equal("http", echoed.Header("X-Forwarded-Proto"));
        Assert.Equal(gateway.Url.Authority, echoed.Header("X-Forwarded-Host"));
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task TrustedProxy_ForwardedForChain_PassedOnWithPeerAppended(string forwarder)
    {
        await using var gateway = await StartAsync(trusted: true, forwarder);

        var echoed = await SendSpoofedAsync(gateway);

        Assert.Equal("1.2.3.4, 127.0.0.1", echoed.Header("X-Forwarded-For"));
        Assert.Equal("http", echoed.Header("X-Forwarded-Proto"));
        Assert.Equal(gateway.Url.Authority, echoed.Header("X-Forwarded-Host"));
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task TrustedProxy_IncomingProtoAndHost_Kept(string forwarder)
    {
        await using var gateway = await StartAsync(trusted: true, forwarder);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/who");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "https");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Host", "shop.example.com");

        using var response = await gateway.Client.SendAsync(request);
        var echoed = await EchoedRequest.ReadAsync(response);

        Assert.Equal("https", echoed.Header("X-Forwarded-Proto"));
        Assert.Equal("shop.example.com", echoed.Header("X-Forwarded-Host"));
        Assert.Equal("127.0.0.1", echoed.Header("X-Forwarded-For"));
        gateway.AssertServedBy(forwarder);
    }

    private static async Task<TestGateway> StartHashingAsync(bool trusted, TestUpstream[] upstreams) => await TestGateway.StartAsync($$"""
        {{(trusted ? "trustedProxies: [127.0.0.1]" : "")}}
        routes:
          - { id: all, match: { path: "/{**rest}" }, cluster: hashed }
        clusters:
          - id: hashed
            loadBalancing: consistent-hash
            hashOn: { clientIp: true }
            endpoints: [{{string.Join(", ", upstreams.Select(u => $"\"{u.Endpoint}\""))}}]
        """);

    private static async Task<TestUpstream[]> NamedUpstreamsAsync() =>
        [await TestUpstream.NamedAsync("a"), await TestUpstream.NamedAsync("b"), await TestUpstream.NamedAsync("c")];

    private static Task<string> UpstreamForClientAsync(TestGateway gateway, string forwardedFor) =>
        gateway.UpstreamForAsync("/x", r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", forwardedFor));

    [Fact]
    public async Task ConsistentHashOnClientIp_TrustedProxy_SpreadsByForwardedClientAndSticks()
    {
        var upstreams = await NamedUpstreamsAsync();
        try
        {
            await using var gateway = await StartHashingAsync(trusted: true, upstreams);

            var picks = new List<string>();
            for (var i = 1; i <= 30; i++) picks.Add(await UpstreamForClientAsync(gateway, $"10.0.0.{i}"));
            Assert.All(picks, p => Assert.Contains(p, new[] { "a", "b", "c" }));
            Assert.True(picks.Distinct().Count() >= 2, $"30 client addresses all went to {picks[0]}");

            for (var i = 1; i <= 30; i += 7)
            {
                var again = await UpstreamForClientAsync(gateway, $"10.0.0.{i}");
                Assert.Equal(picks[i - 1], again);
            }
        }
        finally
        {
            foreach (var u in upstreams) await u.DisposeAsync();
        }
    }

    [Fact]
    public async Task ConsistentHashOnClientIp_UntrustedClient_SpoofedForwardedForIgnored()
    {
        var upstreams = await NamedUpstreamsAsync();
        try
        {
            await using var gateway = await StartHashingAsync(trusted: false, upstreams);

            var picks = new List<string>();
            for (var i = 1; i <= 30; i++) picks.Add(await UpstreamForClientAsync(gateway, $"10.0.0.{i}"));

            Assert.Single(picks.Distinct());
            Assert.Contains(picks[0], new[] { "a", "b", "c" });
        }
        finally
        {
            foreach (var u in upstreams) await u.DisposeAsync();
        }
    }
}
