using System.Text;
using Meshgate.Proxy.Errors;
using Meshgate.Proxy.RequestHygiene;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Proxy.Tests.RequestHygiene;

public sealed class RequestHygieneMiddlewareTests
{
    private static DefaultHttpContext Request(params (string Name, string[] Values)[] headers)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Protocol = "HTTP/1.1";
        context.Request.Headers.Host = "gw.example";
        foreach (var (name, values) in headers) context.Request.Headers[name] = values;
        context.Response.Body = new MemoryStream();
        return context;
    }

    private static async Task<bool> RunAsync(HttpContext context, Func<HttpContext, Task>? onNext = null)
    {
        var called = false;
        var middleware = new RequestHygieneMiddleware(async c =>
        {
            called = true;
            if (onNext is not null) await onNext(c);
        }, NullLogger<RequestHygieneMiddleware>.Instance);
        await middleware.InvokeAsync(context);
        return called;
    }

    [Theory]
    [InlineData("Authorization", "Bearer a", "Authorization", "Bearer b", nameof(HygieneViolation.RepeatedHeader))]
    [InlineData("X(A)", "b", null, null, nameof(HygieneViolation.InvalidHeaderName))]
    [InlineData("X_User", "b", null, null, nameof(HygieneViolation.UnderscoreInHeaderName))]
    [InlineData("X-A", "a\u0001b", null, null, nameof(HygieneViolation.ControlCharacterInHeaderValue))]
    public void Check_Violation_Named(string name1, string value1, string? name2, string? value2, string violation)
    {
        var context = Request();
        context.Request.Headers.Append(name1, value1);
        if (name2 is not null) context.Request.Headers.Append(name2, value2);

        Assert.Equal(violation, RequestHygieneMiddleware.Check(context).ToString());
    }

    [Fact]
    public void Check_ControlCharacterInRawTarget_Refused()
    {
        var context = Request();
        context.Features.Get<IHttpRequestFeature>()!.RawTarget = "/a\u0001b";

        Assert.Equal(HygieneViolation.ControlCharacterInTarget, RequestHygieneMiddleware.Check(context));
    }

    [Fact]
    public void Check_OrdinaryRequest_None()
    {
        var context = Request(("Content-Length", ["5"]), ("Authorization", ["Bearer a"]), ("X-Request-Id", ["1"]));

        Assert.Equal(HygieneViolation.None, RequestHygieneMiddleware.Check(context));
    }

    [Fact]
    public async Task InvokeAsync_Violation_400ProblemAndNextNotCalled()
    {
        var context = Request(("X_User", ["admin"]));

        var called = await RunAsync(context);

        Assert.False(called);
        Assert.Equal(StatusCodes.Status400BadRequest, context.Response.StatusCode);
        Assert.Equal(ProblemResponses.ContentType, context.Response.ContentType);
        Assert.Equal(RequestHygieneMiddleware.ErrorCode, context.Response.Headers[ProblemResponses.SourceHeader].ToString());
    }

    [Fact]
    public async Task InvokeAsync_ChunkedBody_ReadInFullThenForwardedFromTheStart()
    {
        var context = Request(("Transfer-Encoding", ["chunked"]));
        context.Request.Body = new MemoryStream(Encoding.ASCII.GetBytes("hello"));
        string? forwarded = null;

        var called = await RunAsync(context, async c => forwarded = await new StreamReader(c.Request.Body).ReadToEndAsync());

        Assert.True(called);
        Assert.Equal("hello", forwarded);
    }

    [Fact]
    public async Task InvokeAsync_ChunkedBodyWithBadChunk_400AndNextNotCalled()
    {
        var context = Request(("Transfer-Encoding", ["chunked"]));
        context.Request.Body = new FailingStream(new BadHttpRequestException("Bad chunk size data.", StatusCodes.Status400BadRequest));

        var called = await RunAsync(context);

        Assert.False(called);
        Assert.Equal(StatusCodes.Status400BadRequest, context.Response.StatusCode);
    }

    [Fact]
    public async Task InvokeAsync_ChunkedBodyOverLimit_413Kept()
    {
        var context = Request(("Transfer-Encoding", ["chunked"]));
        context.Request.Body = new FailingStream(new BadHttpRequestException("Request body too large.", StatusCodes.Status413PayloadTooLarge));

        var called = await RunAsync(context);

        Assert.False(called);
        Assert.Equal(StatusCodes.Status413PayloadTooLarge, context.Response.StatusCode);
    }

    private sealed class FailingStream(Exception error) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => 0; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw error;
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromException<int>(error);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromException<int>(error);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
