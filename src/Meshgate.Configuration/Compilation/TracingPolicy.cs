using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Compilation;

/// <summary>Tracing, compiled: the exporter's settings (fixed at start) and those the request path reads (applied on reload).</summary>
/// <param name="Sampling">Fraction of new traces recorded, 0..1.</param>
/// <param name="Endpoint">The full OTLP URL: for http/protobuf it includes the /v1/traces path.</param>
/// <param name="Headers">Export headers; may hold secrets, never logged.</param>
/// <param name="ResponseHeader">Response header that carries the trace id; null for none.</param>
public sealed record TracingPolicy(double Sampling, Uri Endpoint, OtlpProtocol Protocol, IReadOnlyDictionary<string, string>? Headers, string ServiceName, string? ResponseHeader)
{
    /// <summary>Whether a change from this policy to <paramref name="next"/> needs a restart: the exporter is built once.</summary>
    public bool ExporterDiffers(TracingPolicy? next) =>
        next is null || next.Endpoint != Endpoint || next.Protocol != Protocol || next.ServiceName != ServiceName
        || !(Headers ?? new Dictionary<string, string>()).OrderBy(h => h.Key, StringComparer.Ordinal)
            .SequenceEqual((next.Headers ?? new Dictionary<string, string>()).OrderBy(h => h.Key, StringComparer.Ordinal));
}

/// <summary>Builds the <see cref="TracingPolicy"/> from a validated definition.</summary>
internal static class TracingCompiler
{
    public static TracingPolicy? Compile(TracingDefinition? tracing)
    {
        if (tracing is null) return null;
        return new TracingPolicy(tracing.Sampling, EndpointOf(tracing), tracing.Protocol,
            tracing.Headers is { Count: > 0 } headers ? new Dictionary<string, string>(headers, StringComparer.OrdinalIgnoreCase) : null,
            tracing.ServiceName.Trim(), tracing.ResponseHeader);
    }

    /// <summary>
    /// OpenTelemetry's exporter takes a set URL as the whole address for http/protobuf; operators copy the collector's
    /// base address (http://collector:4318), so a URL without a path gets the traces path.
    /// </summary>
    private static Uri EndpointOf(TracingDefinition tracing)
    {
        var http = tracing.Protocol == OtlpProtocol.HttpProtobuf;
        var uri = new Uri(tracing.Endpoint ?? (http ? "http://localhost:4318" : "http://localhost:4317"));
        return http && uri.AbsolutePath == "/" ? new Uri(uri, "/v1/traces") : uri;
    }
}
