using System.Diagnostics.Metrics;
using Meshgate.Configuration;
using Meshgate.Proxy.Observability.AccessLog;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.Proxy.Tests.Observability.AccessLog;

public sealed class AccessLogMiddlewareTests
{
    private static AccessLogMiddleware Middleware(RequestDelegate next, string yaml, out AccessLogQueue queue) => Middleware(next, yaml, out queue, out _);

    private static AccessLogMiddleware Middleware(RequestDelegate next, string yaml, out AccessLogQueue queue, out IMeterFactory meters)
    {
        var snapshot = ConfigLoader.Load("listeners: [{ name: public, address: 127.0.0.1:0 }]\n" + yaml, null, TestKit.TempDirectory.Create()).Snapshot!;
        meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        queue = new AccessLogQueue(10, new AccessLogMetrics(meters));
        return new AccessLogMiddleware(next, new SnapshotAccessor(snapshot), queue, AccessLogSampler.Shared, TimeProvider.System,
            new Proxy.Observability.Metrics.GatewayMetrics(meters, snapshot.Definition.Metrics.Enabled),
            new Proxy.Mesh.MeshEdgeMetrics(meters, snapshot.Definition.Metrics.Enabled));
    }

    /// <summary>The response feature of a server: keeps the completion callbacks and runs them as Kestrel does, last registered first.</summary>
    private sealed class ServerResponse : Microsoft.AspNetCore.Http.Features.HttpResponseFeature
    {
        private readonly Stack<(Func<object, Task> Callback, object State)> _onCompleted = new();

        public int Registered => _onCompleted.Count;

        public override void OnCompleted(Func<object, Task> callback, object state) => _onCompleted.Push((callback, state));

        public async Task CompleteAsync()
        {
            while (_onCompleted.TryPop(out var entry)) await entry.Callback(entry.State);
        }
    }

    private static (DefaultHttpContext Context, ServerResponse Response) Request()
    {
        var context = new DefaultHttpContext();
        var response = new ServerResponse();
        context.Features.Set<Microsoft.AspNetCore.Http.Features.IHttpResponseFeature>(response);
        return (context, response);
    }

    /// <summary>The request as a server runs it: the pipeline, then (as Kestrel does for an exception before any answer) a 500, then the completion callbacks.</summary>
    private static async Task<Exception?> RunAsync(AccessLogMiddleware middleware, DefaultHttpContext context, ServerResponse response)
    {
        Exception? failure = null;
        try
        {
            await middleware.InvokeAsync(context);
        }
        catch (Exception e)
        {
            failure = e;
            response.StatusCode = StatusCodes.Status500InternalServerError;
        }
        await response.CompleteAsync();
        return failure;
    }

    [Fact]
    public void InvokeAsync_NoAccessLogAndMetricsOff_PassesTheRequestOnUntouched()
    {
        var pending = new TaskCompletionSource().Task;
        var middleware = Middleware(_ => pending, "metrics: { enabled: false }\n", out var queue);
        var (context, response) = Request();
        var body = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>();

        // The very task of the next step: no async frame of ours, nothing set on the request, no callback.
        Assert.Same(pending, middleware.InvokeAsync(context));
        Assert.Null(context.Features.Get<RequestRecord>());
        Assert.Equal(0, response.Registered);
        Assert.Same(body, context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>());
        Assert.Equal(0, queue.Counters.Queued);
    }

    [Fact]
    public async Task InvokeAsync_MetricsOnly_RecordsTheBodySizesAndPutsNoRecordOnTheRequest()
    {
        RequestRecord? seen = null;
        var middleware = Middleware(async context =>
        {
            seen = context.Features.Get<RequestRecord>();
            await context.Response.Body.WriteAsync(new byte[7]);
        }, "metrics: { enabled: true }\n", out var queue, out var meters);
        long? responseBytes = null;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "http.server.response.body.size" && ReferenceEquals(instrument.Meter.Scope, meters)) l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => responseBytes = value);
        listener.Start();

        var (context, response) = Request();
        await RunAsync(middleware, context, response);

        // Only the access log reads the record: with metrics alone nothing is made for it, and the sizes are still counted.
        Assert.Null(seen);
        Assert.Equal(7, responseBytes);
        Assert.Equal(0, queue.Counters.Queued);
    }

    [Fact]
    public async Task InvokeAsync_On_CompletesWithoutAnAsyncFrameOfItsOwn()
    {
        var pending = new TaskCompletionSource();
        var middleware = Middleware(_ => pending.Task, "accessLog: stdout\n", out var queue);
        var (context, response) = Request();

        // The next step's own task: the line is made in the completion callback, not after an await here.
        Assert.Same(pending.Task, middleware.InvokeAsync(context));
        Assert.Equal(1, response.Registered);
        pending.SetResult();
        await response.CompleteAsync();

        Assert.True(queue.Reader.TryRead(out var entry));
        Assert.Equal(200, entry.Status);
    }

    [Fact]
    public async Task InvokeAsync_On_CountsBodiesRestoresFeaturesAndQueuesOneEntry()
    {
        var middleware = Middleware(async context =>
        {
            context.Features.Get<RequestRecord>()!.AddAttempt(5);
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.StatusCode = 201;
            await context.Response.Body.WriteAsync(new byte[7]);
            await context.Response.BodyWriter.WriteAsync(new byte[3]);
        }, "accessLog: stdout\n", out var queue);
        var (context, response) = Request();
        context.Request.Method = "PUT";
        context.Request.Path = "/x";
        context.Request.Body = new MemoryStream(new byte[11]);
        var requestBody = context.Request.Body;
        var responseBody = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>();

        await RunAsync(middleware, context, response);

        Assert.Same(requestBody, context.Request.Body);
        Assert.Same(responseBody, context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>());
        Assert.True(queue.Reader.TryRead(out var entry));
        Assert.Equal(201, entry.Status);
        Assert.Equal(11, entry.BytesIn);
        Assert.Equal(10, entry.BytesOut);
        Assert.Equal(1, entry.Attempts);
        Assert.Equal(5, entry.UpstreamTicks);
        Assert.Equal("PUT", entry.Method);
        Assert.Equal("/x", entry.Path);
        Assert.Null(entry.Query);
        Assert.False(queue.Reader.TryRead(out _));
    }

    [Fact]
    public async Task InvokeAsync_ExceptionPastTheErrorStep_IsPassedOnAndLoggedWithTheServersStatus()
    {
        var middleware = Middleware(_ => throw new InvalidOperationException("boom"), "accessLog: stdout\n", out var queue);
        var (context, response) = Request();

        Assert.IsType<InvalidOperationException>(await RunAsync(middleware, context, response));

        Assert.True(queue.Reader.TryRead(out var entry));
        Assert.Equal(500, entry.Status);
    }

    [Theory]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736")]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "4bf92f3577b34da6a3ce929d0e0e4736")]
    [InlineData("00-00000000000000000000000000000000-00f067aa0ba902b7-01", null)]   // all-zero id is invalid
    [InlineData("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", null)]   // upper case is invalid
    [InlineData("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736")]   // a future version is read as 00
    [InlineData("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", null)]   // version ff is invalid
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01x", null)]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01", null)]
    [InlineData("00-\"},\"status\":200,\"x\":\"aaaaaaaaaaaaaaaaaaaa-01", null)]         // hostile: JSON in the header
    [InlineData("", null)]
    public void CallerTraceId_TakesOnlyAWellFormedTraceparent(string header, string? expected)
    {
        var id = AccessLogMiddleware.CallerTraceId(header);
        Assert.Equal(expected, id.IsEmpty ? null : id.ToString());
    }

    [Fact]
    public void CallerTraceId_TwoTraceparentHeaders_AreIgnored() =>
        Assert.Equal(default, AccessLogMiddleware.CallerTraceId(new Microsoft.Extensions.Primitives.StringValues(["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b7-01"])));
}
