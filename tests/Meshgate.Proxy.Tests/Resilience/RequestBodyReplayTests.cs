using System.Text;
using Meshgate.Proxy.Resilience.Retries;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.Proxy.Tests.Resilience;

public sealed class RequestBodyReplayTests
{
    private sealed class BodyDetection(bool canHaveBody) : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody => canHaveBody;
    }

    private static DefaultHttpContext Request(string method, bool canHaveBody, byte[]? body = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Features.Set<IHttpRequestBodyDetectionFeature>(new BodyDetection(canHaveBody));
        if (body is not null)
        {
            context.Request.Body = new MemoryStream(body, writable: false);
            context.Request.ContentLength = body.Length;
        }
        return context;
    }

    [Fact]
    public async Task PrepareAsync_GetWithoutBody_IsReplayableAndLeavesTheBodyAlone()
    {
        var context = Request("GET", canHaveBody: false);
        var original = context.Request.Body;

        Assert.True(await RequestBodyReplay.PrepareAsync(context, maxBufferedBody: 1024));

        // Not wrapped, not buffered: a retry route costs a GET nothing here.
        Assert.Same(original, context.Request.Body);
    }

    [Fact]
    public async Task PrepareAsync_EmptyContentLength_IsReplayableAndLeavesTheBodyAlone()
    {
        var context = Request("POST", canHaveBody: true, body: []);
        var original = context.Request.Body;

        Assert.True(await RequestBodyReplay.PrepareAsync(context, maxBufferedBody: 1024));
        Assert.Same(original, context.Request.Body);
    }

    [Fact]
    public async Task PrepareAsync_SmallBody_IsHeldAndRewoundForTheNextAttempt()
    {
        var context = Request("POST", canHaveBody: true, body: Encoding.ASCII.GetBytes("hello"));

        Assert.True(await RequestBodyReplay.PrepareAsync(context, maxBufferedBody: 1024));
        Assert.Equal("hello", await new StreamReader(context.Request.Body).ReadToEndAsync());
        RequestBodyReplay.Rewind(context);
        Assert.Equal("hello", await new StreamReader(context.Request.Body).ReadToEndAsync());
    }

    [Fact]
    public async Task PrepareAsync_BodyOverTheLimit_IsNotReplayable()
    {
        var context = Request("POST", canHaveBody: true, body: new byte[2048]);

        Assert.False(await RequestBodyReplay.PrepareAsync(context, maxBufferedBody: 1024));
    }
}
