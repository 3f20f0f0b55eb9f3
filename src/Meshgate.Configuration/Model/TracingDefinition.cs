using System.ComponentModel;
using System.Runtime.Serialization;

namespace Meshgate.Configuration.Model;

/// <summary>How spans reach the OpenTelemetry collector.</summary>
public enum OtlpProtocol
{
    [EnumMember(Value = "grpc")] Grpc,
    [EnumMember(Value = "http/protobuf")] HttpProtobuf,
}

/// <summary>
/// Distributed tracing: a server span per request and a client span per upstream attempt, exported with OTLP.
/// Absent: off, and nothing on the request path listens for activities.
/// </summary>
public sealed record TracingDefinition
{
    /// <summary>The default <see cref="ServiceName"/>.</summary>
    public const string DefaultServiceName = "meshgate";

    [Description("Fraction of new traces (requests that arrive without a traceparent) that are recorded and exported, 0..1. Default 1. A request whose traceparent says sampled (or not sampled) follows its caller's decision. Applied on reload.")]
    public double Sampling { get; init; } = 1.0;

    [Description("OTLP endpoint URL. Default http://localhost:4317 for grpc, http://localhost:4318 for http/protobuf; for http/protobuf a URL without a path gets /v1/traces. Needs a restart.")]
    public string? Endpoint { get; init; }

    [Description("grpc (the default) or http/protobuf. Needs a restart.")]
    public OtlpProtocol Protocol { get; init; } = OtlpProtocol.Grpc;

    [Description("Headers sent with every export, e.g. an API key for a hosted backend. Never logged; shown as [redacted] by the admin API. Absent: the exporter reads OTEL_EXPORTER_OTLP_HEADERS. Needs a restart.")]
    [Secret]
    public Dictionary<string, string>? Headers { get; init; }

    [Description("service.name of the exported spans. Default meshgate. Needs a restart.")]
    public string ServiceName { get; init; } = DefaultServiceName;

    [Description("Response header that carries the request's trace id (32 hex digits), e.g. x-trace-id. Absent: none. Applied on reload.")]
    public string? ResponseHeader { get; init; }
}
