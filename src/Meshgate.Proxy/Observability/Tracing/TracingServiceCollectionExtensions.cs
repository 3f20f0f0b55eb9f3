using Meshgate.Configuration.Model;
using Meshgate.Proxy.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// Tracing exported by OpenTelemetry: ASP.NET Core's server activity (source Microsoft.AspNetCore) is the
/// request's span, and <see cref="UpstreamSpanHandler"/> (source Meshgate.Upstream), in YARP's forwarder client,
/// makes one client span per upstream attempt of a recorded request. The SocketsHttpHandler under it injects
/// traceparent, tracestate and baggage through YARP's ReverseProxyPropagator, which first removes the copies of
/// the incoming headers, so the upstream sees each once, naming the attempt's span (or, unsampled, the server
/// span) as parent. System.Net.Http's own source is not listened to (see the handler for why).
/// </summary>
/// <remarks>
/// With no tracing section nothing is registered: no ActivityListener, so neither source creates activities
/// for tracing's sake. Turning tracing on or off, or changing the exporter, needs a restart; the sampling ratio
/// and the response header are read from the current snapshot and follow reloads.
/// </remarks>
public static class TracingServiceCollectionExtensions
{
    /// <summary>ASP.NET Core's source of server activities.</summary>
    public const string ServerSource = "Microsoft.AspNetCore";

    public static IServiceCollection AddMeshgateTracing(this IServiceCollection services, SnapshotAccessor snapshots)
    {
        if (snapshots.Current.Tracing is not { } policy) return services;
        // Its own builder call, so the metrics' AddOpenTelemetry() and this one add to the same providers without clashing.
        services.AddOpenTelemetry().WithTracing(tracing => tracing
            .ConfigureResource(resource => resource.AddService(policy.ServiceName))
            .AddSource(ServerSource, UpstreamSpans.SourceName)
            .SetSampler(new GatewaySampler(snapshots))
            .AddOtlpExporter(otlp =>
            {
                otlp.Endpoint = policy.Endpoint;
                otlp.Protocol = policy.Protocol == OtlpProtocol.HttpProtobuf ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                if (policy.Headers is { } headers)
                {
                    otlp.Headers = string.Join(",", headers.Select(h => h.Key + "=" + h.Value));
                }
            }));
        return services;
    }

    /// <summary>Whether the process was started with tracing: the steps that serve it are installed only then.</summary>
    public static bool IsOn(SnapshotAccessor snapshots) => snapshots.Current.Tracing is not null;
}
