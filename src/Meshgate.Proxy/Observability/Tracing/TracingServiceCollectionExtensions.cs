using Meshgate.Configuration.Model;
using Meshgate.Proxy.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// Tracing with the framework's own activities, exported by OpenTelemetry: ASP.NET Core's server activity
/// (source Microsoft.AspNetCore) is the request's span, and System.Net.Http's client activity, started inside
/// the SocketsHttpHandler of YARP's forwarder client, is one span per upstream attempt. Retries go through the
/// forwarder again and hedges are separate sends below it, so each shows as its own child span; no
/// instrumentation package is added, so there is no second client span. The same handler injects traceparent,
/// tracestate and baggage through YARP's ReverseProxyPropagator, which first removes the copies of the incoming
/// headers, so the upstream sees each once, naming the attempt's span as parent.
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

    /// <summary>System.Net.Http's source of client activities.</summary>
    public const string ClientSource = "System.Net.Http";

    public static IServiceCollection AddMeshgateTracing(this IServiceCollection services, SnapshotAccessor snapshots)
    {
        if (snapshots.Current.Tracing is not { } policy) return services;
        // Its own builder call, so the metrics' AddOpenTelemetry() and this one add to the same providers without clashing.
        services.AddOpenTelemetry().WithTracing(tracing => tracing
            .ConfigureResource(resource => resource.AddService(policy.ServiceName))
            .AddSource(ServerSource, ClientSource)
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
