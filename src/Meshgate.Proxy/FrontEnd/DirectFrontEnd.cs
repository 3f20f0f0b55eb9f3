using System.Diagnostics.Metrics;
using Meshgate.Proxy.Observability.Metrics;
using Meshgate.Proxy.Upstream.Http1;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.FrontEnd;

/// <summary>
/// The direct front end (docs/front-end.md): a Kestrel connection middleware on an HTTP/1.1 listener (after TLS) that
/// reads requests from the connection itself and serves the common ones (GET and HEAD without a body, on a route whose
/// policies it takes with the pipeline's own code, over the direct upstream path) without Kestrel's HTTP layer, ASP.NET
/// Core's request pipeline or YARP's. The first request it does not serve, for whatever reason, goes to Kestrel unread,
/// with the rest of the connection: so every other error, limit and feature stays Kestrel's and the pipeline's, and the
/// front end only ever answers requests it fully understands.
/// </summary>
public sealed class DirectFrontEnd
{
    private long _served;
    private long _handOffs;

    public DirectFrontEnd(IServiceProvider services)
    {
        Routes = ActivatorUtilities.CreateInstance<FrontEndRoutes>(services);
        Pool = services.GetRequiredService<Http1ConnectionPool>();
        Snapshots = services.GetRequiredService<Pipeline.SnapshotAccessor>();
        Metrics = services.GetRequiredService<GatewayMetrics>();
        Traces = Observability.Tracing.TracingServiceCollectionExtensions.IsOn(Snapshots);
        StripsCallerIdentity = Mesh.CallerIdentityMiddleware.IsOn(Snapshots);
        RateLimits = services.GetRequiredService<RateLimiting.RateLimitGate>();
        Authentication = services.GetRequiredService<Authentication.AuthenticationProviders>();
        AuthenticationMetrics = services.GetRequiredService<Authentication.AuthenticationMetrics>();
        RetryBudgets = services.GetRequiredService<Resilience.Retries.RetryBudgets>();
        ResilienceMetrics = services.GetRequiredService<Resilience.ResilienceMetrics>();
        ResilienceLogger = services.GetRequiredService<ILogger<Resilience.ResilienceMiddleware>>();
        Time = services.GetRequiredService<TimeProvider>();
        Random = services.GetRequiredService<LoadBalancing.IRandomSource>();
        AccessLogQueue = services.GetRequiredService<Observability.AccessLog.AccessLogQueue>();
        AccessLogSampler = services.GetRequiredService<Observability.AccessLog.AccessLogSampler>();
        Logger = services.GetRequiredService<ILogger<DirectFrontEnd>>();
        Stopping = services.GetService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
        if (Metrics.Enabled)
        {
            var meters = services.GetRequiredService<IMeterFactory>();
            var meter = meters.Create(Common.MeshgateMeter.Name);
            meter.CreateObservableCounter("meshgate.front_end.requests", () => Served, "{request}", "Requests the direct front end answered itself (docs/front-end.md).");
            meter.CreateObservableCounter("meshgate.front_end.handoffs", () => HandOffs, "{connection}", "Connections the direct front end handed to Kestrel's HTTP layer, at the first request it does not serve.");
            // ASP.NET Core's own instrument: the meter factory hands out the meter the hosting layer made, and the meter the
            // instrument it made with the same name, unit and description, so the front end's requests are counted in the
            // very series (and by the dashboard's listener) as the pipeline's.
            var hosting = meters.Create("Microsoft.AspNetCore.Hosting");
            RequestDuration = hosting.CreateHistogram<double>("http.server.request.duration", "s", "Duration of HTTP server requests.",
                advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] });
        }
    }

    /// <summary>Requests the front end has answered itself since the gateway started.</summary>
    public long Served => Interlocked.Read(ref _served);

    /// <summary>Connections the front end has handed to Kestrel since the gateway started.</summary>
    public long HandOffs => Interlocked.Read(ref _handOffs);

    internal void CountServed() => Interlocked.Increment(ref _served);

    internal void CountHandOff() => Interlocked.Increment(ref _handOffs);

    /// <summary>
    /// The gateway is draining: every answer from now on says Connection: close. Kestrel tells each connection in turn,
    /// and an answer written in between (inline, on a socket loop) must not promise a keep-alive the next moment breaks.
    /// </summary>
    internal CancellationToken Stopping { get; }

    internal FrontEndRoutes Routes { get; }
    internal Http1ConnectionPool Pool { get; }
    internal Pipeline.SnapshotAccessor Snapshots { get; }
    internal GatewayMetrics Metrics { get; }

    /// <summary>The process started with tracing: the pipeline has its tracing step, and the front end traces as it does.</summary>
    internal bool Traces { get; }

    /// <summary>
    /// The process has a meshTls listener: as the pipeline's caller-identity step, a client's x-forwarded-client-cert never
    /// reaches the upstream (the front end serves no meshTls listener, so no request it serves has a verified caller).
    /// </summary>
    internal bool StripsCallerIdentity { get; }
    internal RateLimiting.RateLimitGate RateLimits { get; }
    internal Authentication.AuthenticationProviders Authentication { get; }
    internal Authentication.AuthenticationMetrics AuthenticationMetrics { get; }
    internal Resilience.Retries.RetryBudgets RetryBudgets { get; }
    internal Resilience.ResilienceMetrics ResilienceMetrics { get; }
    internal ILogger ResilienceLogger { get; }
    internal TimeProvider Time { get; }
    internal LoadBalancing.IRandomSource Random { get; }
    internal Observability.AccessLog.AccessLogQueue AccessLogQueue { get; }
    internal Observability.AccessLog.AccessLogSampler AccessLogSampler { get; }
    internal ILogger Logger { get; }
    internal Histogram<double>? RequestDuration { get; }

    /// <summary>
    /// The connection middleware for a listener; <c>next</c> is Kestrel's HTTP layer (behind the framing filter). Until
    /// Kestrel has a connection, the front end holds it to Kestrel's keep-alive and request-headers timeouts.
    /// </summary>
    public Func<ConnectionDelegate, ConnectionDelegate> For(string listener, KestrelServerLimits limits)
    {
        var timeouts = new FrontEndListener(listener, limits.KeepAliveTimeout, limits.RequestHeadersTimeout);
        // HTTP/2 chosen by ALPN frames requests itself: Kestrel's alone.
        return next => connection => connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual("h2"u8) == true
            ? next(connection)
            : new FrontEndConnection(this, connection, next, timeouts).ServeAsync();
    }
}

/// <summary>A listener's name (routes may be kept to listeners) and Kestrel's timeouts for it.</summary>
internal sealed record FrontEndListener(string Name, TimeSpan KeepAliveTimeout, TimeSpan RequestHeadersTimeout);
