using System.Diagnostics;
using System.Diagnostics.Metrics;
using Meshgate.Common;
using Meshgate.Configuration;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Mesh;

/// <summary>
/// The mesh's golden metrics, per edge (source service → destination service): <c>meshgate.mesh.requests</c> and the
/// latency histogram <c>meshgate.mesh.request.duration</c>, labelled by direction, both ends' service and namespace,
/// and status code. Each request is recorded by the side that saw it: <c>inbound</c> when it arrived on a meshTls
/// listener (the source is the caller's SPIFFE id, <c>unknown</c> for a plaintext caller), <c>outbound</c> when it went
/// to a <c>discovery: mesh</c> cluster (the destination is that cluster's service). Recorded by the observability step
/// at completion, where the request already knows its listener's peer and its cluster; a process without a mesh
/// section pays one null check, and a non-mesh request in a mesh process one feature and one dictionary lookup.
/// </summary>
public sealed class MeshEdgeMetrics
{
    public const string RequestsName = "meshgate.mesh.requests";
    public const string DurationName = "meshgate.mesh.request.duration";
    public const string Inbound = "inbound";
    public const string Outbound = "outbound";

    /// <summary>
    /// Seconds, finer than the gateway's request buckets at the low end: a hop between sidecars on one network takes
    /// well under 5 ms, where ASP.NET Core's first bucket ends, and p50/p99 are read from these buckets.
    /// </summary>
    internal static readonly double[] DurationBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];

    private readonly Counter<long>? _requests;
    private readonly Histogram<double>? _duration;

    /// <param name="enabled">metrics.enabled of the config the process started with.</param>
    public MeshEdgeMetrics(IMeterFactory meterFactory, bool enabled)
    {
        if (!enabled) return;
        var meter = meterFactory.Create(MeshgateMeter.Name);
        _requests = meter.CreateCounter<long>(RequestsName, "{request}",
            "Requests between mesh services, by direction (inbound: as the callee's sidecar saw them; outbound: as the caller's), source and destination service and namespace, and status code.");
        _duration = meter.CreateHistogram(DurationName, "s",
            "Time of requests between mesh services in this proxy, from the request's arrival until its response was relayed, by the labels of meshgate.mesh.requests.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
    }

    /// <summary>Records the request on the inbound side, the outbound side, both, or (not a mesh request) neither.</summary>
    /// <param name="clusterId">The cluster the request went to (or would have); null when no route took it.</param>
    /// <param name="status">The status code the client got (499 when it went away).</param>
    /// <param name="elapsedTicks">Time in this proxy, in <see cref="Stopwatch"/> ticks.</param>
    public void Record(HttpContext context, ConfigSnapshot snapshot, string? clusterId, int status, long elapsedTicks)
    {
        if (_requests is null || snapshot.Definition.Mesh is not { } self) return;
        var caller = context.Features.Get<MeshPeerFeature>();
        var callee = clusterId is null ? null : snapshot.ClusterPolicies.GetValueOrDefault(clusterId)?.Mesh;
        if (caller is null && callee is null) return;

        var seconds = (double)elapsedTicks / Stopwatch.Frequency;
        // The status as a label like every other request metric here (a 5xx share is a regular expression away): boxed once, not per request.
        var statusCode = Observability.Metrics.BoxedStatusCodes.Boxed(status);
        var service = self.Service ?? MeshPeerFeature.Unknown;
        if (caller is not null) Add(Inbound, caller.CallerNamespace, caller.CallerService, self.Namespace, service, statusCode, seconds);
        if (callee is not null) Add(Outbound, self.Namespace, service, callee.Namespace, callee.Service, statusCode, seconds);
    }

    private void Add(string direction, string sourceNamespace, string sourceService, string destinationNamespace, string destinationService, object statusCode, double seconds)
    {
        // Six tags fit TagList's inline storage: no allocation per request.
        var tags = new TagList
        {
            { "direction", direction },
            { "source.service", sourceService },
            { "source.namespace", sourceNamespace },
            { "destination.service", destinationService },
            { "destination.namespace", destinationNamespace },
            { "http.response.status_code", statusCode },
        };
        _requests!.Add(1, tags);
        _duration!.Record(seconds, tags);
    }
}
