using System.Diagnostics.Metrics;
using Meshgate.Common;
using Meshgate.Configuration.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Meshgate.Proxy.Observability.Metrics;

public static class MetricsServiceCollectionExtensions
{
    /// <summary>The meters (and, where given, the one instrument of it) whose instruments /metrics shows, as made by this gateway's own services.</summary>
    private static readonly (string Meter, string? Instrument)[] GatewayMeters =
    [
        (MeshgateMeter.Name, null),
        // Not ASP.NET Core's http.server.active_requests: GatewayMetrics counts it, with the same name and labels, for less.
        ("Microsoft.AspNetCore.Hosting", "http.server.request.duration"),
        ("Microsoft.AspNetCore.Server.Kestrel", null),   // kestrel.active_connections, kestrel.connection.duration, ...
        // Not System.Runtime: three of its names (dotnet.assembly.count, ...) end in _count, which
        // promtool's lint refuses for gauges; a scrape must pass it as it is.
    ];

    /// <summary>
    /// OpenTelemetry's meter provider with the Prometheus exporter, when metrics are enabled. Meters are
    /// chosen with <see cref="MeterScope.Local"/>: only instruments made by this container's meter factory
    /// count, so the admin listener's own requests (it is another app with its own factory) and any
    /// other gateway in the same process (tests) stay out of this gateway's figures.
    /// </summary>
    public static IServiceCollection AddMeshgateMetrics(this IServiceCollection services, MetricsDefinition definition)
    {
        services.AddMetrics();
        services.TryAddSingleton(sp => new GatewayMetrics(sp.GetRequiredService<IMeterFactory>(), definition.Enabled));
        services.TryAddSingleton(sp => new Mesh.MeshEdgeMetrics(sp.GetRequiredService<IMeterFactory>(), definition.Enabled));
        if (!definition.Enabled) return services;

        services.AddMetrics(metrics =>
        {
            foreach (var (meter, instrument) in GatewayMeters) metrics.EnableMetrics(meter, instrument, scopes: MeterScope.Local);
        });
        // No AddMeter here: meters added to the SDK directly would bypass the scope rules above.
        // Every scrape collects afresh: Prometheus scrapes rarely, and a cached answer would hide a change for a scrape interval.
        // Every metric gets the config's cardinality limit instead of the SDK's 2,000: the SDK allocates that many points
        // per metric up front (docs/performance.md#memory). A view that sets only the limit keeps the metric's name and
        // buckets; combinations past the limit are counted in the SDK's otel.metric.overflow series.
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            // CreateDefault's attributes less its default service name, which it takes from Process.GetCurrentProcess():
            // that loads System.Diagnostics.Process (0.4 MiB of RSS) for a name AddService replaces anyway.
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddTelemetrySdk().AddEnvironmentVariableDetector().AddService("meshgate"))
            .AddView(_ => new MetricStreamConfiguration { CardinalityLimit = definition.CardinalityLimit })
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        services.TryAddSingleton<ProxyStateMetrics>();
        services.AddHostedService<ObservableGaugesStart>();
        return services;
    }

    /// <summary>Makes the gauges that read proxy state when the host starts: nothing on the request path asks for them.</summary>
    private sealed class ObservableGaugesStart(ProxyStateMetrics gauges) : IHostedService
    {
        // Held so the gauges (and their meter) live as long as the host.
        public ProxyStateMetrics Gauges { get; } = gauges;

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
