using Meshgate.Proxy.Routing;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Tests.Routing;

public sealed class PathNormalizationMiddlewareTests
{
    [Theory]
    [InlineData("/", "/")]
    [InlineData("/orders/7", "/orders/7")]
    [InlineData("/.well-known/x.json", "/.well-known/x.json")]
    [InlineData("/a.b/c", "/a.b/c")]
    public void Inspect_NormalPath_IsNormal(string path, string raw)
    {
        Assert.Equal(PathVerdict.Normal, PathRules.Inspect(path, raw, out var reason));
        Assert.Null(reason);
    }

    [Theory]
    [InlineData("//admin", "/admin")]
    [InlineData("/a///b//", "/a/b/")]
    public void MergeSlashes_RepeatedSlashes_BecomeOne(string path, string merged)
    {
        Assert.Equal(PathVerdict.MergeSlashes, PathRules.Inspect(path, path, out _));
        Assert.Equal(merged, PathRules.MergeSlashes(path));
    }

    [Theory]
    [InlineData("/admin%2Fx", "/admin%2Fx")]
    [InlineData("/%61dmin", "/%2561dmin")]
    [InlineData("/admin\\x", "/admin%5Cx")]
    [InlineData("/admin;x", "/admin;x")]
    [InlineData("/admin.", "/admin.")]
    [InlineData("/...", "/...")]
    [InlineData("/admin\nx", "/admin%0Ax")]
    [InlineData("/secret", "/admin/%2e%2e/secret")]
    [InlineData("/admin/x", "/admin/%2E/x")]
    [InlineData("/x", "http://host/a/.%2e/x?q=1")]
    public void Inspect_AmbiguousSpelling_IsRejectedWithReason(string path, string raw)
    {
        Assert.Equal(PathVerdict.Reject, PathRules.Inspect(path, raw, out var reason));
        Assert.False(string.IsNullOrEmpty(reason));
    }

    [Fact]
    public void Inspect_EncodedDotInsideName_IsNotADotSegment() =>
        Assert.Equal(PathVerdict.Normal, PathRules.Inspect("/file.json", "/file%2ejson", out _));

    [Fact]
    public void Inspect_NormalPath_DoesNotAllocate()
    {
        const string path = "/api/orders/12345/items";
        PathRules.Inspect(path, path, out _);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++) PathRules.Inspect(path, "/api/orders/%31%32345/items", out _);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public async Task InvokeAsync_RepeatedSlashes_RewritesPathBeforeNext()
    {
        var context = new DefaultHttpContext();
        context.Request.Path = "/a//b";
        string? seen = null;
        var middleware = new PathNormalizationMiddleware(c => { seen = c.Request.Path.Value; return Task.CompletedTask; });

        await middleware.InvokeAsync(context);

        Assert.Equal("/a/b", seen);
    }

    [Fact]
    public async Task InvokeAsync_Rejected_Writes400ProblemAndSkipsNext()
    {
        var context = new DefaultHttpContext();
        context.Request.Path = "/admin;x";
        context.Response.Body = new MemoryStream();
        var called = false;
        var middleware = new PathNormalizationMiddleware(_ => { called = true; return Task.CompletedTask; });

        await middleware.InvokeAsync(context);

        Assert.False(called);
        Assert.Equal(400, context.Response.StatusCode);
        Assert.Equal("bad-path", context.Response.Headers["x-meshgate-error"]);
    }
}
