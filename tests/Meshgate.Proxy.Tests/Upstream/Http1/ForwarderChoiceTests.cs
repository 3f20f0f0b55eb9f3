using Meshgate.Configuration;
using Meshgate.Proxy.Upstream.Http1;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Tests.Upstream.Http1;

public sealed class ForwarderChoiceTests
{
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\n";

    private static ForwarderChoice Decide(string yaml, string route = "r", string cluster = "a")
    {
        var result = ConfigLoader.Load(Head + yaml, null, Path.GetTempPath());
        Assert.True(result.Snapshot is not null, string.Join("\n", result.Errors));
        return ForwarderChoice.Decide(result.Snapshot, route, cluster, new Proxy.Upstream.UpstreamTlsPolicies(TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<Proxy.Upstream.UpstreamTlsPolicy>.Instance));
    }

    public static TheoryData<string, string> Reasons => new()
    {
        { "routes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters: [{ id: a, endpoints: [http://10.0.0.1] }]\n", "direct: HTTP/1.1 upstream path" },
        { "routes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters: [{ id: a, endpoints: [http://10.0.0.1], forwarder: direct }]\n", "direct: HTTP/1.1 upstream path" },
        { "routes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters: [{ id: a, endpoints: [http://10.0.0.1], forwarder: yarp }]\n", "yarp: cluster 'a' sets forwarder: yarp" },
        { "routes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters: [{ id: a, endpoints: [http://10.0.0.1, https://10.0.0.2] }]\n", "yarp: cluster uses TLS under forwarder: auto" },
        { "routes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters: [{ id: a, endpoints: [https://10.0.0.2], tls: { sni: a.example } }]\n", "yarp: cluster uses TLS under forwarder: auto" },
        { "routes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters: [{ id: a, endpoints: [https://10.0.0.2], tls: { sni: a.example }, forwarder: direct }]\n", "direct: HTTP/1.1 upstream path" },
        { "routes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters: [{ id: a, endpoints: [http://10.0.0.1], httpVersion: \"2\" }]\n", "yarp: cluster asks for HTTP/2" },
        { "routes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters: [{ id: a, endpoints: [http://10.0.0.1], circuitBreaker: { maxConnectionsPerEndpoint: 4 } }]\n", "yarp: cluster limits connections per endpoint" },
        { "routes: [{ id: r, match: { path: \"/r/{id}\" }, cluster: a, transforms: { pathTemplate: \"/x/{id}\" } }]\nclusters: [{ id: a, endpoints: [http://10.0.0.1] }]\n", "yarp: the route rewrites the path with pathTemplate" },
        { "routes: [{ id: r, match: { path: /r }, split: [{ cluster: a, weight: 1 }, { cluster: b, weight: 1 }] }]\nclusters: [{ id: a, endpoints: [http://10.0.0.1] }, { id: b, endpoints: [http://10.0.0.2] }]\n", "yarp: the route splits traffic between clusters" },
        { "tracing: { endpoint: http://127.0.0.1:4318/v1/traces, sampling: 0.01 }\nroutes: [{ id: r, match: { path: /r }, cluster: a }]\nclusters: [{ id: a, endpoints: [http://10.0.0.1] }]\n", "direct: HTTP/1.1 upstream path" },
    };

    [Theory]
    [MemberData(nameof(Reasons))]
    public void Decide_RouteAndCluster_ChoiceWithReason(string yaml, string reason)
    {
        var choice = Decide(yaml);
        Assert.StartsWith(reason, choice.Reason, StringComparison.Ordinal);
        Assert.Equal(reason.StartsWith("direct", StringComparison.Ordinal), choice.Direct);
    }

    [Fact]
    public void Decide_DirectRoute_CarriesItsTransformsAndTimeouts()
    {
        var choice = Decide("""
            routes:
              - id: r
                match: { pathPrefix: /api }
                cluster: a
                resilience: retrying
                transforms:
                  stripPrefix: /api/
                  preserveHost: true
                  requestHeaders: { set: { x-a: "1" }, append: { x-b: "2" }, remove: [x-c] }
                  responseHeaders: { remove: [server] }
            clusters: [{ id: a, endpoints: [http://10.0.0.1], timeouts: { connect: 750ms } }]
            resilience:
              retrying: { retries: { attempts: 2 } }
            """);

        Assert.True(choice.Direct);
        Assert.Equal("/api", choice.StripPrefix.Value);
        Assert.True(choice.PreserveHost);
        Assert.True(choice.ChecksRetry);
        Assert.Equal(TimeSpan.FromMilliseconds(750), choice.ConnectTimeout);
        Assert.True(choice.RequestHeaders.Replaces("X-A"));
        Assert.True(choice.RequestHeaders.Replaces("x-c"));
        Assert.Equal("2", choice.RequestHeaders.Appended("x-b"));
        Assert.False(choice.ResponseHeaders.IsEmpty);
    }

    [Fact]
    public void Decide_TlsCluster_GetsTheClustersTlsPolicy_TheSameAcrossAReloadThatKeepsIt()
    {
        const string Yaml = "routes: [{ id: r, match: { path: /r }, cluster: a }, { id: p, match: { path: /p }, cluster: plain }]\n"
            + "clusters: [{ id: a, endpoints: [https://10.0.0.2], tls: { sni: a.example }, forwarder: direct }, { id: plain, endpoints: [http://10.0.0.3] }]\n";
        var policies = new Proxy.Upstream.UpstreamTlsPolicies(TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<Proxy.Upstream.UpstreamTlsPolicy>.Instance);
        ForwarderChoice Load(string yaml, string route, string cluster) =>
            ForwarderChoice.Decide(ConfigLoader.Load(Head + yaml, null, Path.GetTempPath()).Snapshot!, route, cluster, policies);

        var first = Load(Yaml, "r", "a");
        var reloaded = Load(Yaml + "# a comment: another config version\n", "r", "a");
        var insecure = Load(Yaml.Replace("sni: a.example", "sni: a.example, insecureSkipVerify: true"), "r", "a");

        Assert.NotNull(first.Tls);
        // Same settings, same policy: the direct path's pooled connections (keyed by it) survive the reload.
        Assert.Same(first.Tls, reloaded.Tls);
        Assert.NotSame(first.Tls, insecure.Tls);
        Assert.Null(Load(Yaml, "p", "plain").Tls);
    }

    [Fact]
    public void Retain_AfterReloadsChangingTls_KeepsOnlyTheCurrentClustersPolicies_AndATimeoutChangeKeepsThePolicy()
    {
        const string Yaml = "routes: [{ id: r, match: { path: /r }, cluster: a }]\n"
            + "clusters: [{ id: a, endpoints: [https://10.0.0.2], tls: { insecureSkipVerify: SKIP }, forwarder: direct, timeouts: { connect: CONNECT } }]\n";
        var policies = new Proxy.Upstream.UpstreamTlsPolicies(TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<Proxy.Upstream.UpstreamTlsPolicy>.Instance);
        (ConfigSnapshot Snapshot, ForwarderChoice Choice) Load(bool skip, string connect)
        {
            var snapshot = ConfigLoader.Load(Head + Yaml.Replace("SKIP", skip ? "true" : "false").Replace("CONNECT", connect), null, Path.GetTempPath()).Snapshot!;
            return (snapshot, ForwarderChoice.Decide(snapshot, "r", "a", policies));
        }

        var first = Load(false, "5s");
        Assert.True(first.Snapshot.ClusterPolicies["a"].UsesTls);
        // The connect timeout is no TLS setting: same policy, so the pooled connections stay.
        Assert.Same(first.Choice.Tls, Load(false, "2s").Choice.Tls);
        var last = first;
        for (var i = 0; i < 5; i++) last = Load(i % 2 == 0, "5s");
        Assert.Equal(2, policies.Count);

        policies.Retain(last.Snapshot);

        Assert.Equal(1, policies.Count);
        Assert.Equal([last.Choice.Tls!], policies.Current());
    }

    [Theory]
    [InlineData("http://Backend:8080/base", "http://backend:8080/base", true)]
    [InlineData("HTTP://BACKEND", "http://backend", true)]
    [InlineData("http://backend/Base", "http://backend/base", false)]
    [InlineData("http://backend:8080", "http://backend:8081", false)]
    [InlineData("https://backend", "http://backend", false)]
    public void AddressComparer_HostCaseInsensitive_PathExact(string x, string y, bool equal)
    {
        Assert.Equal(equal, AddressComparer.Instance.Equals(x, y));
        if (equal) Assert.Equal(AddressComparer.Instance.GetHashCode(x), AddressComparer.Instance.GetHashCode(y));
    }

    [Theory]
    [InlineData(null, false, null, "client.example", null)]
    [InlineData("a.example", false, null, "client.example", "a.example")]
    [InlineData("a.example", true, null, "client.example:8443", "client.example")]
    [InlineData(null, true, null, "[::1]:8443", "[::1]")]
    [InlineData("a.example", true, "set.example:444", "client.example", "set.example")]
    public void TlsName_IsTheHostOfTheHostHeaderSent(string? sni, bool preserveHost, string? setHost, string clientHost, string? expected)
    {
        var choice = Decide($$"""
            routes:
              - id: r
                match: { path: /r }
                cluster: a
                transforms: { preserveHost: {{(preserveHost ? "true" : "false")}}{{(setHost is null ? "" : $", requestHeaders: {{ set: {{ Host: \"{setHost}\" }} }}")}} }
            clusters: [{ id: a, endpoints: [https://10.0.0.2], forwarder: direct }]
            """);
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.Host = new Microsoft.AspNetCore.Http.HostString(clientHost);

        Assert.Equal(expected, Http1Forwarder.TlsName(context.Request, sni, choice));
    }

    [Theory]
    [InlineData("GET", "", "", null)]
    [InlineData("POST", "", "application/json", null)]
    [InlineData("GET", "websocket", "", "upgrade request (WebSocket)")]
    [InlineData("CONNECT", "", "", "CONNECT request (HTTP/2 WebSockets come as extended CONNECT)")]
    [InlineData("POST", "", "application/grpc+proto", "gRPC request")]
    public void YarpOnly_PerRequest(string method, string upgrade, string contentType, string? reason)
    {
        Assert.Equal(reason, ForwarderChoice.YarpOnly(method, upgrade.Length == 0 ? StringValues.Empty : upgrade, contentType.Length == 0 ? StringValues.Empty : contentType));
    }
}
