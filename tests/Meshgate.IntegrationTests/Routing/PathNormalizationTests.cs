using System.Collections.Concurrent;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.IntegrationTests.Routing;

/// <summary>
/// One path, one policy: every spelling of a path either reaches the upstream of the route it matched,
/// with exactly the path that was matched, or is rejected with 400. Sent with raw sockets, so the
/// request target is exactly these bytes.
/// </summary>
public sealed class PathNormalizationTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<(string Upstream, string RawTarget)> _received = new();
    private TestUpstream _admin = null!, _public = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _admin = await RecordingUpstream("admin");
        _public = await RecordingUpstream("public");
        _gateway = await TestGateway.StartAsync($$"""
            routes:
              - id: admin
                match: { path: "/admin/{**rest}" }
                cluster: admin
              - id: public
                match: { path: "/{**rest}" }
                cluster: public
            clusters:
              - { id: admin, endpoints: ["{{_admin.Endpoint}}"] }
              - { id: public, endpoints: ["{{_public.Endpoint}}"] }
            """);
    }

    // Records the request target exactly as it came off the upstream's wire, before its own decoding.
    private Task<TestUpstream> RecordingUpstream(string name) => TestUpstream.StartAsync(app => app.Run(context =>
    {
        _received.Enqueue((name, context.Features.Get<IHttpRequestFeature>()!.RawTarget));
        context.Response.Headers["x-upstream"] = name;
        return Task.CompletedTask;
    }));

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _admin.DisposeAsync();
        await _public.DisposeAsync();
    }

    private Task<RawResponse> Send(string target) =>
        RawHttp.SendAsync(_gateway.Url, $"GET {target} HTTP/1.1\nHost: localhost\nConnection: close\n\n");

    [Theory]
    // Kestrel removes dot segments; the route and the upstream both see /admin.
    [InlineData("/public/../admin", "admin", "/admin")]
    // Percent-encoded unreserved characters are decoded once, then matched and forwarded decoded.
    [InlineData("/%61dmin", "admin", "/admin")]
    // Matching is case-insensitive; the path is forwarded as sent, which is the path that matched.
    [InlineData("/ADMIN", "admin", "/ADMIN")]
    // Repeated slashes are merged before routing, so the upstream cannot merge them after.
    [InlineData("//admin", "admin", "/admin")]
    [InlineData("/admin//x", "admin", "/admin/x")]
    [InlineData("/admin/", "admin", "/admin/")]
    [InlineData("/public/x", "public", "/public/x")]
    public async Task Spelling_IsMatchedAndForwardedAsOnePath(string target, string upstream, string forwarded)
    {
        var response = await Send(target);

        Assert.Equal(200, response.Status);
        Assert.Equal(upstream, Assert.Single(response.Values("x-upstream")));
        var received = Assert.Single(_received);
        Assert.Equal((upstream, forwarded), received);
    }

    [Theory]
    // Encoded slash: one segment to the gateway, two to many upstreams.
    [InlineData("/admin%2Fx")]
    [InlineData("/admin%2fx")]
    // Path parameters: some upstreams (servlet containers) drop ";x" and see /admin.
    [InlineData("/admin;x")]
    [InlineData("/admin%3Bx")]
    // Trailing dots: Windows file systems and some servers drop them.
    [InlineData("/admin.")]
    [InlineData("/admin./x")]
    // Double encoding: decoded once here, once more by the upstream.
    [InlineData("/%2561dmin")]
    [InlineData("/admin%252Fx")]
    // NUL and control characters.
    [InlineData("/admin%00")]
    [InlineData("/admin%0Ax")]
    // Encoded dot segments: a dot segment only the decoder sees.
    [InlineData("/admin/%2e%2e/secret")]
    [InlineData("/admin/.%2E/secret")]
    [InlineData("/admin/%2e/x")]
    // Backslashes: a separator on Windows and to some normalizers.
    [InlineData("/admin\\x")]
    [InlineData("/admin%5Cx")]
    [InlineData("/admin%5cx")]
    public async Task AmbiguousSpelling_IsRejected_BeforeAnyUpstream(string target)
    {
        var response = await Send(target);

        Assert.Equal(400, response.Status);
        Assert.Empty(_received);
    }

    [Theory]
    [InlineData("/admin%2Fx")]
    [InlineData("/admin;x")]
    [InlineData("/admin/%2e%2e/secret")]
    [InlineData("/%2561dmin")]
    [InlineData("/admin%5Cx")]
    public async Task GatewayRejection_IsProblemJson(string target)
    {
        var response = await Send(target);

        Assert.Equal(400, response.Status);
        Assert.Equal("application/problem+json", Assert.Single(response.Values("content-type")));
        Assert.Equal("bad-path", Assert.Single(response.Values("x-meshgate-error")));
    }

    [Fact]
    public async Task DotLikeNames_ThatAreNotDotSegments_PassThrough()
    {
        var response = await Send("/public/.well-known/x.json");

        Assert.Equal(200, response.Status);
        Assert.Equal(("public", "/public/.well-known/x.json"), Assert.Single(_received));
    }
}
