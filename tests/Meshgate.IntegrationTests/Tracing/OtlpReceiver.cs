using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Google.Protobuf;
using ServerCallContext = Grpc.Core.ServerCallContext;
using Meshgate.IntegrationTests.Tracing.Otlp;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Meshgate.IntegrationTests.Tracing;

/// <summary>One exported span, decoded, with ids as lower-case hex like traceparent's.</summary>
public sealed record ReceivedSpan(string TraceId, string SpanId, string? ParentSpanId, string Name, Span.Types.SpanKind Kind,
    IReadOnlyDictionary<string, string> Attributes, string TraceState, Status.Types.StatusCode Status, string ServiceName, string Scope);

/// <summary>
/// An OpenTelemetry collector stand-in on real Kestrel listeners (127.0.0.1, port 0): OTLP/HTTP protobuf at
/// POST /v1/traces on an HTTP/1.1 listener and the OTLP gRPC TraceService on an HTTP/2 (prior knowledge) one.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private readonly ConcurrentQueue<IReadOnlyDictionary<string, string>> _exportHeaders = new();

    private OtlpReceiver(WebApplication app) => _app = app;

    /// <summary>Base URL for protocol http/protobuf (the gateway adds /v1/traces).</summary>
    public string HttpEndpoint { get; private set; } = "";

    /// <summary>URL for protocol grpc.</summary>
    public string GrpcEndpoint { get; private set; } = "";

    public IReadOnlyList<ReceivedSpan> Spans => _spans.ToList();

    /// <summary>The request headers of every export received, over either protocol.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, string>> ExportHeaders => _exportHeaders.ToList();

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // The receiver is an ASP.NET Core app in the gateway's process: with a source of its own name, the gateway's
        // tracing does not trace the exports it receives.
        builder.Services.AddSingleton(new ActivitySource("Meshgate.Tests.OtlpReceiver"));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton<Holder>();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http1);
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.Services.GetRequiredService<Holder>().Receiver = receiver;
        app.MapPost("/v1/traces", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            receiver.Add(ExportTraceServiceRequest.Parser.ParseFrom(body.ToArray()), context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
            context.Response.ContentType = "application/x-protobuf";
            await context.Response.Body.WriteAsync(new ExportTraceServiceResponse().ToByteArray());
        });
        app.MapGrpcService<GrpcTraceService>();
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList();
        receiver.HttpEndpoint = addresses[0];
        receiver.GrpcEndpoint = addresses[1];
        return receiver;
    }

    /// <summary>Spans of one trace (as the gateway exported them so far).</summary>
    public IReadOnlyList<ReceivedSpan> Trace(string traceId) => _spans.Where(s => s.TraceId == traceId).ToList();

    private void Add(ExportTraceServiceRequest request, IReadOnlyDictionary<string, string> headers)
    {
        _exportHeaders.Enqueue(headers);
        foreach (var resource in request.ResourceSpans)
        {
            var service = resource.Resource?.Attributes.FirstOrDefault(a => a.Key == "service.name")?.Value.StringValue ?? "";
            foreach (var scope in resource.ScopeSpans)
            {
                foreach (var span in scope.Spans)
                {
                    _spans.Enqueue(new ReceivedSpan(
                        Convert.ToHexStringLower(span.TraceId.Span),
                        Convert.ToHexStringLower(span.SpanId.Span),
                        span.ParentSpanId.IsEmpty ? null : Convert.ToHexStringLower(span.ParentSpanId.Span),
                        span.Name,
                        span.Kind,
                        span.Attributes.ToDictionary(a => a.Key, a => ValueText(a.Value)),
                        span.TraceState,
                        span.Status?.Code ?? Status.Types.StatusCode.Unset,
                        service,
                        scope.Scope?.Name ?? ""));
                }
            }
        }
    }

    private static string ValueText(AnyValue value) => value.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>How the gRPC service (made by the framework) reaches the receiver.</summary>
    private sealed class Holder
    {
        public OtlpReceiver? Receiver { get; set; }
    }

    private sealed class GrpcTraceService(Holder holder) : TraceService.TraceServiceBase
    {
        public override Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
        {
            holder.Receiver!.Add(request, context.RequestHeaders.Where(h => !h.IsBinary).GroupBy(h => h.Key, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => string.Join(",", g.Select(h => h.Value)), StringComparer.OrdinalIgnoreCase));
            return Task.FromResult(new ExportTraceServiceResponse());
        }
    }
}
