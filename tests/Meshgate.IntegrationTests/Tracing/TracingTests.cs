using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Meshgate.IntegrationTests.AccessLog;
using Meshgate.IntegrationTests.Forwarding;
using Meshgate.IntegrationTests.Tracing.Otlp;
using Meshgate.TestKit;
using Microsoft.Extensions.DependencyInjection;
using static OpenTelemetry.Trace.TracerProviderExtensions;
using TracerProvider = OpenTelemetry.Trace.TracerProvider;

namespace Meshgate.IntegrationTests.Tracing;

/// <summary>
/// Traces through the real gateway, exported to an in-process OTLP receiver, with a real upstream that records the
/// trace headers it was sent.
/// </summary>
/// <remarks>
/// One class, so its tests run one after another: an ActivityListener hears every ASP.NET Core app in the process,
/// and two tracing gateways at once would each export (and sample) the other's requests.
/// </remarks>
public sealed class TracingTests
{
    /// <summary>The server span's instrumentation scope: the gateway's own source (it was ASP.NET Core's, Microsoft.AspNetCore).</summary>
    private const string Server = "Meshgate.Server";

    /// <summary>A caller's trace: the W3C specification's example ids.</summary>
    private const string CallerTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string CallerSpanId = "00f067aa0ba902b7";

    /// <summary>The route the tests trace: /app/** to the recording upstream, on <paramref name="forwarder"/>.</summary>
    private static string AppRoute(TraceHeadersUpstream upstream, string forwarder = "auto") => $$"""
        routes:
          - { id: app, match: { path: "/app/{**rest}" }, cluster: backend }
        clusters:
          - { id: backend, endpoints: ["{{upstream.Endpoint}}"], forwarder: {{forwarder}} }
        """;

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task Request_ExportsServerSpanAndClientSpan_UpstreamSeesTheClientSpanAsParent(string forwarder)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TraceHeadersUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            tracing:
              endpoint: {{receiver.HttpEndpoint}}
              protocol: http/protobuf
              serviceName: edge-test
              responseHeader: x-trace-id
              headers: { x-api-key: "s3cret=value with spaces" }
            accessLog: { output: access.log }
            {{AppRoute(upstream, forwarder)}}
            """);
        using var caller = ClientOf(gateway);

        using var response = await caller.GetAsync("/app/orders/42");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var traceId = Assert.Single(response.Headers.GetValues("x-trace-id"));
        Assert.Matches("^[0-9a-f]{32}$", traceId);
        // The admin API is not traced: this request must not show up below.
        Assert.Contains("[redacted]", await gateway.Admin.GetStringAsync("/admin/config"));

        var spans = await ExportedAsync(gateway, receiver, traceId, 2);
        var server = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Server && s.Scope == Server && s.ParentSpanId is null);
        Assert.Equal("GET app", server.Name);
        Assert.Equal("app", server.Attributes["meshgate.route"]);
        Assert.Equal("backend", server.Attributes["meshgate.cluster"]);
        Assert.Equal("/app/{**rest}", server.Attributes["http.route"]);
        Assert.Equal("/app/orders/42", server.Attributes["url.path"]);
        Assert.Equal("GET", server.Attributes["http.request.method"]);
        Assert.Equal("200", server.Attributes["http.response.status_code"]);
        Assert.Equal("edge-test", server.ServiceName);
        var client = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Client);
        Assert.Equal(server.SpanId, client.ParentSpanId);
        Assert.Equal("Meshgate.Upstream", client.Scope);
        Assert.Equal(upstream.Endpoint + "/app/orders/42", client.Attributes["url.full"]);
        Assert.Equal("200", client.Attributes["http.response.status_code"]);
        Assert.DoesNotContain(receiver.Spans, s => s.Attributes.TryGetValue("url.path", out var path) && path.StartsWith("/admin", StringComparison.Ordinal));
        // On the direct path, the direct front end served it (docs/front-end.md): the spans above are its.
        Assert.Equal(forwarder == "yarp" ? 0 : 1, gateway.Host.Gateway.Services.GetRequiredService<Meshgate.Proxy.FrontEnd.DirectFrontEnd>().Served);

        // The upstream was sent exactly one traceparent, naming the client span as parent, sampled.
        var sent = Assert.Single(upstream.Requests);
        Assert.Equal($"00-{traceId}-{client.SpanId}-01", Assert.Single(sent.Traceparent));

        // The access log's traceId is the exported one.
        var line = Assert.Single(await AccessLogFiles.WaitForLinesAsync(Path.Combine(gateway.Directory, "access.log"), 1));
        Assert.Equal(traceId, line.GetProperty("traceId").GetString());

        // Export headers reach the collector, and the admin API never shows them.
        Assert.Contains(receiver.ExportHeaders, h => h.TryGetValue("x-api-key", out var key) && key == "s3cret=value with spaces");
        var config = await gateway.Admin.GetStringAsync("/admin/config");
        Assert.DoesNotContain("s3cret", config);
        using var document = JsonDocument.Parse(config);
        Assert.Equal("[redacted]", FindProperty(document.RootElement, "tracing").GetProperty("headers").GetString());
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task IncomingTraceparent_IsContinued_AndTracestateAndBaggageReachTheUpstream(string forwarder)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TraceHeadersUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            tracing: { endpoint: {{receiver.GrpcEndpoint}}, protocol: grpc, sampling: 0 }
            {{AppRoute(upstream, forwarder)}}
            """);
        using var caller = ClientOf(gateway);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/app/x");
        request.Headers.Add("traceparent", $"00-{CallerTraceId}-{CallerSpanId}-01");
        request.Headers.Add("tracestate", "vendor=abc,other=1");
        request.Headers.Add("baggage", "tenant=acme,plan=gold");
        using var response = await caller.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Sampling 0 is for new traces only: the caller's sampled flag wins.
        var spans = await ExportedAsync(gateway, receiver, CallerTraceId, 2);
        var server = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Server && s.ParentSpanId == CallerSpanId);
        var client = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Client);
        Assert.Equal(server.SpanId, client.ParentSpanId);
        Assert.Equal("vendor=abc,other=1", server.TraceState);

        var sent = Assert.Single(upstream.Requests);
        Assert.Equal($"00-{CallerTraceId}-{client.SpanId}-01", Assert.Single(sent.Traceparent));
        Assert.Equal("vendor=abc,other=1", Assert.Single(sent.Tracestate));
        Assert.Equal(["plan=gold", "tenant=acme"], Assert.Single(sent.Baggage).Split(',').Select(b => b.Replace(" ", "", StringComparison.Ordinal)).Order());
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task RetriedRequest_HasOneClientSpanPerAttempt(string forwarder)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TraceHeadersUpstream.StartAsync();
        var deadUpstream = await TestUpstream.StartAsync(app => app.Run(_ => Task.CompletedTask));
        var dead = deadUpstream.Endpoint;
        await deadUpstream.DisposeAsync();   // a closed port: every connect is refused
        await using var gateway = await TestGateway.StartAsync($$"""
            tracing: { endpoint: {{receiver.GrpcEndpoint}}, responseHeader: x-trace-id }
            resilience:
              retrying: { retries: { attempts: 2, on: [connect-failure], backoff: { base: 1ms, max: 2ms } } }
            routes:
              - { id: app, match: { path: "/app/{**rest}" }, cluster: pair, resilience: retrying }
            clusters:
              - { id: pair, loadBalancing: round-robin, endpoints: ["{{dead}}", "{{upstream.Endpoint}}"], forwarder: {{forwarder}} }
            """);
        using var caller = ClientOf(gateway);

        // Round robin sends one of two first tries to the dead endpoint: that request is retried.
        var traces = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var response = await caller.GetAsync("/app/x");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            traces.Add(Assert.Single(response.Headers.GetValues("x-trace-id")));
        }

        await ExportedAsync(gateway, receiver, traces[0], 2);
        await ExportedAsync(gateway, receiver, traces[1], 2);
        var clientSpans = traces.Select(t => receiver.Trace(t).Where(s => s.Kind == Span.Types.SpanKind.Client).ToList()).ToList();
        Assert.Equal([1, 2], clientSpans.Select(c => c.Count).Order());
        var retried = traces[clientSpans.FindIndex(c => c.Count == 2)];
        var spans = receiver.Trace(retried);
        var server = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Server && s.ParentSpanId is null);
        var attempts = spans.Where(s => s.Kind == Span.Types.SpanKind.Client).ToList();
        Assert.All(attempts, a => Assert.Equal(server.SpanId, a.ParentSpanId));
        Assert.Single(attempts, a => a.Status == Status.Types.StatusCode.Error);
        // The upstream saw only the attempt that reached it, with that attempt's span as parent.
        var reached = Assert.Single(attempts, a => a.Status != Status.Types.StatusCode.Error);
        Assert.Contains(upstream.Requests, r => r.Traceparent.SequenceEqual([$"00-{retried}-{reached.SpanId}-01"]));
        gateway.AssertServedBy(forwarder);
    }

    [Fact]
    public async Task HedgedRequest_HasAClientSpanForTheFirstAttemptAndOneForTheHedge()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var slow = await FaultyUpstream.StartAsync("slow", UpstreamFault.Slow);
        await using var fast = await FaultyUpstream.StartAsync("fast");
        await using var gateway = await TestGateway.StartAsync($$"""
            tracing: { endpoint: {{receiver.GrpcEndpoint}}, responseHeader: x-trace-id }
            resilience:
              hedged: { hedging: { delay: 200ms } }
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: pool, resilience: hedged }
            clusters:
              - { id: pool, endpoints: ["{{slow.Endpoint}}", "{{fast.Endpoint}}"] }
            """);
        using var caller = ClientOf(gateway);

        // Round robin sends one of the two first to the slow endpoint; that one is hedged to the fast one.
        var traces = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var response = await caller.GetAsync("/x");
            var body = await response.Content.ReadAsStringAsync();
            // On failure, say what each attempt did: which endpoint it went to and how it ended.
            if (body != "fast") TracerProviderOf(gateway).ForceFlush(5000);
            Assert.True(body == "fast", $"request {i} answered '{body}' (slow saw {slow.Requests}, fast saw {fast.Requests}); spans: " +
                string.Join("; ", receiver.Spans.Select(s => $"{s.TraceId[..8]} {s.Kind} {s.Status} {string.Join(",", s.Attributes.Select(a => $"{a.Key}={a.Value}"))}")));
            traces.Add(Assert.Single(response.Headers.GetValues("x-trace-id")));
        }
        await slow.AbortSeen.Task.WaitAsync(TimeSpan.FromSeconds(5));

        // Two round-robin tickets in a row cover both endpoints, so at least one request went to the slow one first
        // and has two client spans: three or more between them (the hedged-away attempt's span ends when it is cancelled).
        var provider = TracerProviderOf(gateway);
        await Eventually.HoldsAsync(() => Task.FromResult(provider.ForceFlush(5000) &&
            traces.Sum(t => receiver.Trace(t).Count(s => s.Kind == Span.Types.SpanKind.Client)) >= 3), TimeSpan.FromSeconds(10),
            "three client spans across the two traces");
        // Which request (or whether both) was hedged depends on tickets taken before the test's: each is checked alike.
        var clientSpanCounts = traces.Select(t => receiver.Trace(t).Count(s => s.Kind == Span.Types.SpanKind.Client)).ToList();
        Assert.All(clientSpanCounts, c => Assert.InRange(c, 1, 2));
        var hedgedTraces = traces.Where((_, i) => clientSpanCounts[i] == 2).ToList();
        Assert.NotEmpty(hedgedTraces);
        foreach (var hedged in hedgedTraces)
        {
            var spans = receiver.Trace(hedged);
            var server = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Server && s.ParentSpanId is null);
            // Siblings under the server span, not one nested in the other.
            Assert.All(spans.Where(s => s.Kind == Span.Types.SpanKind.Client), a => Assert.Equal(server.SpanId, a.ParentSpanId));
        }
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task SamplingZero_ExportsNothing_ButStillPropagatesTheTraceId(string forwarder)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TraceHeadersUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            tracing: { endpoint: {{receiver.HttpEndpoint}}, protocol: http/protobuf, sampling: 0, responseHeader: x-trace-id }
            accessLog: { output: access.log }
            {{AppRoute(upstream, forwarder)}}
            """);
        using var caller = ClientOf(gateway);

        using var response = await caller.GetAsync("/app/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var traceId = Assert.Single(response.Headers.GetValues("x-trace-id"));

        // Not sampled (flags 00), but the upstream still joins the same trace.
        var traceparent = Assert.Single(Assert.Single(upstream.Requests).Traceparent);
        Assert.Matches($"^00-{traceId}-[0-9a-f]{{16}}-00$", traceparent);
        var line = Assert.Single(await AccessLogFiles.WaitForLinesAsync(Path.Combine(gateway.Directory, "access.log"), 1));
        Assert.Equal(traceId, line.GetProperty("traceId").GetString());

        Assert.True(TracerProviderOf(gateway).ForceFlush(5000));
        Assert.Empty(receiver.Spans);
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task TracingOff_TheCallersTraceIdStillReachesTheUpstreamAndTheAccessLog(string forwarder)
    {
        await using var upstream = await TraceHeadersUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            accessLog: { output: access.log }
            {{AppRoute(upstream, forwarder)}}
            """);
        using var caller = ClientOf(gateway);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/app/x");
        request.Headers.Add("traceparent", $"00-{CallerTraceId}-{CallerSpanId}-01");
        using var response = await caller.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        using var withoutTrace = await caller.GetAsync("/app/y");
        Assert.Equal(HttpStatusCode.OK, withoutTrace.StatusCode);

        // Tracing off adds nothing: no provider, no listener on any source, the caller's header passed on as it came,
        // none made up for a request without one.
        Assert.Null(gateway.Host.Gateway.Services.GetService<TracerProvider>());
        Assert.False(HostingSourceOf(gateway).HasListeners());
        Assert.False(new System.Diagnostics.ActivitySource("Meshgate.Server").HasListeners());
        Assert.Equal([$"00-{CallerTraceId}-{CallerSpanId}-01"], upstream.Requests[0].Traceparent);
        Assert.Empty(upstream.Requests[1].Traceparent);
        var line = (await AccessLogFiles.WaitForLinesAsync(Path.Combine(gateway.Directory, "access.log"), 2))[0];
        Assert.Equal(CallerTraceId, line.GetProperty("traceId").GetString());
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task IncomingUnsampledTraceparent_IsNotRecorded_ButItsTraceIdGoesOnEverywhere(string forwarder)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TraceHeadersUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            tracing: { endpoint: {{receiver.GrpcEndpoint}}, protocol: grpc, sampling: 1, responseHeader: x-trace-id }
            accessLog: { output: access.log }
            {{AppRoute(upstream, forwarder)}}
            """);
        using var caller = ClientOf(gateway);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/app/x");
        request.Headers.Add("traceparent", $"00-{CallerTraceId}-{CallerSpanId}-00");
        request.Headers.Add("tracestate", "vendor=abc");
        using var response = await caller.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Sampling 1 is for new traces only: the caller said not sampled, so nothing is recorded.
        Assert.Equal(CallerTraceId, Assert.Single(response.Headers.GetValues("x-trace-id")));
        var sent = Assert.Single(upstream.Requests);
        var traceparent = Assert.Single(sent.Traceparent);
        Assert.Matches($"^00-{CallerTraceId}-[0-9a-f]{{16}}-00$", traceparent);
        Assert.DoesNotContain(CallerSpanId, traceparent);
        Assert.Equal("vendor=abc", Assert.Single(sent.Tracestate));
        var line = Assert.Single(await AccessLogFiles.WaitForLinesAsync(Path.Combine(gateway.Directory, "access.log"), 1));
        Assert.Equal(CallerTraceId, line.GetProperty("traceId").GetString());
        Assert.True(TracerProviderOf(gateway).ForceFlush(5000));
        Assert.Empty(receiver.Spans);
        gateway.AssertServedBy(forwarder);
    }

    public static TheoryData<string, string> MalformedTraceparents()
    {
        var data = new TheoryData<string, string>();
        string[] headers =
        [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",          // wrong length
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",         // bad hex
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",         // all-zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",         // all-zero parent id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",         // version ff
        ];
        foreach (var forwarder in new[] { "auto", "yarp" })
        {
            foreach (var header in headers) data.Add(forwarder, header);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(MalformedTraceparents))]
    public async Task MalformedTraceparent_StartsANewTrace(string forwarder, string malformed)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TraceHeadersUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            tracing: { endpoint: {{receiver.GrpcEndpoint}}, protocol: grpc, sampling: 1, responseHeader: x-trace-id }
            accessLog: { output: access.log }
            {{AppRoute(upstream, forwarder)}}
            """);
        using var caller = ClientOf(gateway);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/app/x");
        request.Headers.TryAddWithoutValidation("traceparent", malformed);
        request.Headers.Add("tracestate", "vendor=abc");
        request.Headers.Add("baggage", "tenant=acme");
        using var response = await caller.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // A new trace (a root span, sampled at ratio 1) under a new id; the caller's tracestate belonged to its broken
        // traceparent and is dropped, its baggage goes on.
        var traceId = Assert.Single(response.Headers.GetValues("x-trace-id"));
        Assert.Matches("^[0-9a-f]{32}$", traceId);
        Assert.DoesNotContain(traceId, malformed);
        var spans = await ExportedAsync(gateway, receiver, traceId, 2);
        var server = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Server);
        Assert.Null(server.ParentSpanId);
        var client = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Client);
        var sent = Assert.Single(upstream.Requests);
        Assert.Equal($"00-{traceId}-{client.SpanId}-01", Assert.Single(sent.Traceparent));
        Assert.Empty(sent.Tracestate);
        Assert.Equal("tenant=acme", Assert.Single(sent.Baggage));
        var line = Assert.Single(await AccessLogFiles.WaitForLinesAsync(Path.Combine(gateway.Directory, "access.log"), 1));
        Assert.Equal(traceId, line.GetProperty("traceId").GetString());
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task TracingOn_AspNetCoreCreatesNoActivity_AndAnUnsampledRequestHasNone(string forwarder)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TraceHeadersUpstream.StartAsync();
        // The default log level: what a gateway runs with.
        await using var gateway = await TestGateway.StartAsync($$"""
            logging: { level: info }
            tracing: { endpoint: {{receiver.GrpcEndpoint}}, sampling: 0, responseHeader: x-trace-id }
            {{AppRoute(upstream, forwarder)}}
            """);
        using var caller = ClientOf(gateway);
        // Every Activity the gateway's own sources start (sampled or not) would show here; a listener of them is what
        // OpenTelemetry's is, and it is there too.
        var started = new ConcurrentQueue<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name is "Meshgate.Server" or "Meshgate.Upstream",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.PropagationData,
            ActivityStarted = started.Enqueue,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);

        using var response = await caller.GetAsync("/app/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Matches($"^00-{Assert.Single(response.Headers.GetValues("x-trace-id"))}-[0-9a-f]{{16}}-00$", Assert.Single(Assert.Single(upstream.Requests).Traceparent));

        // The three things that make ASP.NET Core's hosting create its Activity for a request are all off: a listener
        // of its ActivitySource, its DiagnosticListener's request event, its diagnostics logger at any level.
        var services = gateway.Host.Gateway.Services;
        Assert.False(HostingSourceOf(gateway).HasListeners());
        Assert.False(services.GetRequiredService<System.Diagnostics.DiagnosticListener>().IsEnabled("Microsoft.AspNetCore.Hosting.HttpRequestIn"));
        Assert.False(services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>()
            .CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(Microsoft.Extensions.Logging.LogLevel.Critical));
        // And the gateway's own sources started nothing for the unsampled request.
        Assert.Empty(started);
        gateway.AssertServedBy(forwarder);
    }

    [Fact]
    public async Task DebugLogging_ANewTraceIsStillARootUnderItsOwnId()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TraceHeadersUpstream.StartAsync();
        // At debug level ASP.NET Core makes an Activity of its own for its request log: the server span must not adopt it.
        await using var gateway = await TestGateway.StartAsync($$"""
            logging: { level: debug }
            tracing: { endpoint: {{receiver.GrpcEndpoint}}, responseHeader: x-trace-id }
            {{AppRoute(upstream)}}
            """);
        using var caller = ClientOf(gateway);

        using var response = await caller.GetAsync("/app/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var traceId = Assert.Single(response.Headers.GetValues("x-trace-id"));
        var spans = await ExportedAsync(gateway, receiver, traceId, 2);
        var server = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Server);
        Assert.Null(server.ParentSpanId);
        var client = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Client);
        Assert.Equal($"00-{traceId}-{client.SpanId}-01", Assert.Single(Assert.Single(upstream.Requests).Traceparent));
    }

    [Fact]
    public async Task Reload_SamplingApplies_ExporterChangeNeedsARestart()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TraceHeadersUpstream.StartAsync();
        string Config(string sampling, string service) => $$"""
            tracing: { endpoint: {{receiver.GrpcEndpoint}}, sampling: {{sampling}}, serviceName: {{service}}, responseHeader: x-trace-id }
            {{AppRoute(upstream)}}
            """;
        await using var gateway = await TestGateway.StartAsync(Config("0", "first"));
        using var caller = ClientOf(gateway);
        using (var unsampled = await caller.GetAsync("/app/x"))
        {
            Assert.True(TracerProviderOf(gateway).ForceFlush(5000));
            Assert.Empty(receiver.Trace(Assert.Single(unsampled.Headers.GetValues("x-trace-id"))));
        }

        await gateway.RewriteConfigAsync(Config("1", "second"));
        using var reload = await gateway.Admin.PostAsync("/admin/reload", null);
        Assert.Contains("\"restartRequired\":[\"tracing\"]", await reload.Content.ReadAsStringAsync());

        using var sampled = await caller.GetAsync("/app/x");
        var spans = await ExportedAsync(gateway, receiver, Assert.Single(sampled.Headers.GetValues("x-trace-id")), 2);
        // The new ratio applies at once; the service name is the exporter's, fixed at start.
        Assert.All(spans, s => Assert.Equal("first", s.ServiceName));
    }

    /// <summary>Flushes the gateway's exporter until the trace has at least <paramref name="count"/> spans.</summary>
    private static async Task<IReadOnlyList<ReceivedSpan>> ExportedAsync(TestGateway gateway, OtlpReceiver receiver, string traceId, int count)
    {
        var provider = TracerProviderOf(gateway);
        await Eventually.HoldsAsync(() => Task.FromResult(provider.ForceFlush(5000) && receiver.Trace(traceId).Count >= count), TimeSpan.FromSeconds(10),
            $"{count} spans of trace {traceId}; received: {string.Join("; ", receiver.Spans.Select(s => $"{s.TraceId} {s.Kind} {s.Name}"))}");
        return receiver.Trace(traceId);
    }

    /// <summary>
    /// A client that sends no trace headers of its own: it runs in the gateway's process, where the gateway's listener
    /// would give its requests an (unsampled) activity and a traceparent, as if an outside caller had decided.
    /// </summary>
    private static HttpClient ClientOf(TestGateway gateway) =>
        new(new SocketsHttpHandler { ActivityHeadersPropagator = System.Diagnostics.DistributedContextPropagator.CreateNoOutputPropagator() }) { BaseAddress = gateway.Url };

    /// <summary>ASP.NET Core's hosting source of the gateway's host (one per host; listeners match it by name).</summary>
    private static System.Diagnostics.ActivitySource HostingSourceOf(TestGateway gateway) =>
        gateway.Host.Gateway.Services.GetRequiredService<System.Diagnostics.ActivitySource>();

    private static TracerProvider TracerProviderOf(TestGateway gateway) => gateway.Host.Gateway.Services.GetRequiredService<TracerProvider>();

    private static JsonElement FindProperty(JsonElement element, string name)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name == name) return property.Value;
                if (FindProperty(property.Value, name) is { ValueKind: not JsonValueKind.Undefined } found) return found;
            }
        }
        return default;
    }

    /// <summary>A real upstream that records the trace-context headers of every request it gets.</summary>
    private sealed class TraceHeadersUpstream : IAsyncDisposable
    {
        private readonly ConcurrentQueue<Received> _requests = new();
        private TestUpstream _upstream = null!;

        public sealed record Received(string[] Traceparent, string[] Tracestate, string[] Baggage);

        public IReadOnlyList<Received> Requests => _requests.ToList();

        public string Endpoint => _upstream.Endpoint;

        public static async Task<TraceHeadersUpstream> StartAsync()
        {
            var recorder = new TraceHeadersUpstream();
            recorder._upstream = await TestUpstream.StartAsync(app => app.Run(context =>
            {
                var headers = context.Request.Headers;
                recorder._requests.Enqueue(new Received(headers["traceparent"].ToArray()!, headers["tracestate"].ToArray()!, headers["baggage"].ToArray()!));
                return context.Response.WriteAsync("ok");
            }));
            return recorder;
        }

        public ValueTask DisposeAsync() => _upstream.DisposeAsync();
    }
}
