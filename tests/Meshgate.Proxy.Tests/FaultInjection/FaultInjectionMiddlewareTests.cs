using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.FaultInjection;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Tests.FaultInjection;

public sealed class FaultInjectionMiddlewareTests
{
    private static readonly FaultInjectionMetrics Metrics = new(TestMeters.Factory);

    private static DefaultHttpContext Context(FaultPolicy? policy, params (string Name, string Value)[] headers)
    {
        var context = new DefaultHttpContext();
        context.SetEndpoint(new Endpoint(null, policy is null ? EndpointMetadataCollection.Empty : new EndpointMetadataCollection(policy), "test"));
        foreach (var (name, value) in headers) context.Request.Headers[name] = value;
        context.Features.Set(new RequestRecord());
        return context;
    }

    private static (FaultInjectionMiddleware Middleware, Func<int> Calls, Task Next) Build(ScriptedRandomSource random)
    {
        var calls = 0;
        var next = new TaskCompletionSource().Task;
        var middleware = new FaultInjectionMiddleware(_ => { calls++; return next; }, random, TimeProvider.System, Metrics);
        return (middleware, () => calls, next);
    }

    [Fact]
    public void Invoke_RouteWithoutFaults_ReturnsNextsTaskItself()
    {
        var (middleware, calls, next) = Build(new ScriptedRandomSource());

        // The very task next returned: no state machine, no extra frame on a plain route.
        Assert.Same(next, middleware.InvokeAsync(Context(null)));
        Assert.Equal(1, calls());
    }

    [Theory]
    [InlineData(49_999, true)]
    [InlineData(50_000, false)]
    public async Task Invoke_AbortPercent_DrawDecides(long draw, bool aborted)
    {
        var (middleware, calls, _) = Build(new ScriptedRandomSource(draw));
        var context = Context(new FaultPolicy("r", 503, 50_000, null, 0, null));

        var task = middleware.InvokeAsync(context);
        if (aborted) await task;

        Assert.Equal(aborted ? 0 : 1, calls());
        Assert.Equal(aborted ? 503 : 200, context.Response.StatusCode);
        Assert.Equal(aborted ? "abort" : null, context.Features.Get<RequestRecord>()!.Fault);
        if (aborted) Assert.Equal("fault-injected", context.Response.Headers["x-meshgate-error"]);
    }

    [Fact]
    public void Invoke_HeaderRequiredButAbsent_NoDrawNoFault()
    {
        var random = new ScriptedRandomSource();
        var (middleware, calls, next) = Build(random);

        Assert.Same(next, middleware.InvokeAsync(Context(new FaultPolicy("r", 503, 1_000_000, null, 0, "x-meshgate-fault"))));
        Assert.Equal(1, calls());
        Assert.Equal(0, random.Calls);
    }

    [Fact]
    public async Task Invoke_HeaderPresent_AbortsWithBodilessStatus()
    {
        var (middleware, calls, _) = Build(new ScriptedRandomSource());
        var context = Context(new FaultPolicy("r", 204, 1_000_000, null, 0, "x-meshgate-fault"), ("x-meshgate-fault", ""));

        await middleware.InvokeAsync(context);

        Assert.Equal(0, calls());
        Assert.Equal(204, context.Response.StatusCode);
        Assert.Null(context.Response.ContentType);
    }

    [Fact]
    public async Task Invoke_DelayClientGone_StopsWithoutForwarding()
    {
        var (middleware, calls, _) = Build(new ScriptedRandomSource());
        var context = Context(new FaultPolicy("r", null, 0, TimeSpan.FromMinutes(5), 1_000_000, null));
        using var aborted = new CancellationTokenSource();
        context.RequestAborted = aborted.Token;

        var task = middleware.InvokeAsync(context);
        aborted.Cancel();
        await task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, calls());
        Assert.Equal("delay", context.Features.Get<RequestRecord>()!.Fault);
    }
}
