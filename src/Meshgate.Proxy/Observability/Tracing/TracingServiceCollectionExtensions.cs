using Meshgate.Configuration.Model;
using Meshgate.Proxy.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// Tracing exported by OpenTelemetry, from the gateway's own sources only: <see cref="ServerSpan"/> (source Meshgate.Server),
/// the server span that <see cref="TracingMiddleware"/> starts for a sampled request, and <see cref="UpstreamSpans"/>
/// (source Meshgate.Upstream), one client span per upstream attempt of a sampled request, on both forwarders. Every
/// request, sampled or not, has a trace context of the gateway's (<see cref="TraceContextFeature"/>), which the upstream
/// receives as traceparent: written by the direct path straight into its buffer, and on YARP's path by
/// <see cref="TraceContextTransform"/> (replaced by <see cref="UpstreamSpanHandler"/> with the attempt's span when sampled).
/// </summary>
/// <remarks>
/// ASP.NET Core's source (Microsoft.AspNetCore) is not listened to: ASP.NET Core would then create an Activity for every
/// request, sampled or not (see <see cref="GatewaySampler"/>). With no tracing section nothing is registered: no
/// ActivityListener, no step, no transform. Turning tracing on or off, or changing the exporter, needs a restart; the
/// sampling ratio and the response header are read from the current snapshot and follow reloads.
/// </remarks>
public static class TracingServiceCollectionExtensions
{
    public static IServiceCollection AddMeshgateTracing(this IServiceCollection services, SnapshotAccessor snapshots)
    {
        if (snapshots.Current.Tracing is not { } policy) return services;
        // Its own builder call, so the metrics' AddOpenTelemetry() and this one add to the same providers without clashing.
        services.AddOpenTelemetry().WithTracing(tracing => tracing
            .ConfigureResource(resource => resource.AddService(policy.ServiceName))
            .AddSource(ServerSpan.SourceName, UpstreamSpans.SourceName)
            .SetSampler(new GatewaySampler())
            .AddOtlpExporter(otlp =>
            {
                otlp.Endpoint = policy.Endpoint;
                otlp.Protocol = policy.Protocol == OtlpProtocol.HttpProtobuf ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                if (policy.Headers is { } headers)
                {
                    otlp.Headers = string.Join(",", headers.Select(h => h.Key + "=" + h.Value));
                }
            }));
        services.AddSingleton<ITransformProvider, TraceContextTransform.Provider>();
        return services;
    }

    /// <summary>Whether the process was started with tracing: the steps that serve it are installed only then.</summary>
    public static bool IsOn(SnapshotAccessor snapshots) => snapshots.Current.Tracing is not null;
}
