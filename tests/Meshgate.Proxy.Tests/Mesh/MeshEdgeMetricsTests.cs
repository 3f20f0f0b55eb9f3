using System.Diagnostics;
using System.Diagnostics.Metrics;
using Meshgate.Configuration;
using Meshgate.Proxy.Mesh;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.Proxy.Tests.Mesh;

public sealed class MeshEdgeMetricsTests
{
    private const string Listener = "listeners: [{ name: public, address: 127.0.0.1:0 }]\n";
    private const string MeshSection = "mesh: { controlPlane: http://127.0.0.1:15010, service: frontend, namespace: shop, tokenEnv: PATH }\n";
    private const string Plain = "routes: [{ id: r, match: { path: /r }, cluster: plain }]\nclusters:\n  - { id: plain, endpoints: [http://127.0.0.1:5000] }\n";
    private const string Clusters = Plain + "  - { id: mesh-orders, discovery: mesh, service: orders, namespace: billing }\n";

    [Theory]
    [InlineData("spiffe://mesh.local/ns/default/sa/orders", "default", "orders")]
    [InlineData("spiffe://cluster.local/ns/shop/sa/frontend", "shop", "frontend")]
    [InlineData(null, "unknown", "unknown")]
    [InlineData("spiffe://mesh.local/workload/orders", "unknown", "unknown")]
    [InlineData("spiffe://mesh.local/ns/default/sa/orders/extra", "unknown", "unknown")]
    [InlineData("spiffe://mesh.local/ns//sa/orders", "unknown", "unknown")]
    [InlineData("spiffe://mesh.local", "unknown", "unknown")]
    [InlineData("https://mesh.local/ns/default/sa/orders", "unknown", "unknown")]
    public void CallerOf_SpiffeId_NamespaceAndServiceOrUnknown(string? spiffeId, string ns, string service)
    {
        var peer = new MeshPeerFeature(spiffeId);

        Assert.Equal(ns, peer.CallerNamespace);
        Assert.Equal(service, peer.CallerService);
    }

    [Fact]
    public void Record_InboundAndOutbound_EachSideWithItsSourceAndDestination()
    {
        using var recorded = new Recorded();
        var snapshot = Snapshot(MeshSection + Clusters);
        var inbound = Context(new MeshPeerFeature("spiffe://mesh.local/ns/shop/sa/gateway"));

        recorded.Metrics.Record(inbound, snapshot, "plain", 200, Stopwatch.Frequency / 100);
        recorded.Metrics.Record(Context(null), snapshot, "mesh-orders", 503, Stopwatch.Frequency / 50);

        Assert.Equal(
        [
            "meshgate.mesh.requests 1 direction=inbound source.service=gateway source.namespace=shop destination.service=frontend destination.namespace=shop http.response.status_code=200",
            "meshgate.mesh.request.duration 0.01 direction=inbound source.service=gateway source.namespace=shop destination.service=frontend destination.namespace=shop http.response.status_code=200",
            "meshgate.mesh.requests 1 direction=outbound source.service=frontend source.namespace=shop destination.service=orders destination.namespace=billing http.response.status_code=503",
            "meshgate.mesh.request.duration 0.02 direction=outbound source.service=frontend source.namespace=shop destination.service=orders destination.namespace=billing http.response.status_code=503",
        ], recorded.Lines);
    }

    [Fact]
    public void Record_PlaintextCaller_SourceUnknown()
    {
        using var recorded = new Recorded();

        recorded.Metrics.Record(Context(new MeshPeerFeature(null)), Snapshot(MeshSection + Clusters), "plain", 200, 1);

        Assert.StartsWith("meshgate.mesh.requests 1 direction=inbound source.service=unknown source.namespace=unknown destination.service=frontend", recorded.Lines[0]);
    }

    [Theory]
    [InlineData(Listener + Plain, "plain")] // no mesh section: the plain gateway
    [InlineData(Listener + MeshSection + Clusters, "plain")] // a mesh process, a request neither on a meshTls listener nor to a mesh cluster
    [InlineData(Listener + MeshSection + Clusters, null)] // no route took it
    public void Record_NotAMeshRequest_RecordsNothingAndAllocatesNothing(string yaml, string? cluster)
    {
        using var recorded = new Recorded();
        var snapshot = Snapshot(yaml);
        var context = Context(null);
        recorded.Metrics.Record(context, snapshot, cluster, 200, 1);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++) recorded.Metrics.Record(context, snapshot, cluster, 200, 1);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Empty(recorded.Lines);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Record_MeshRequest_AllocatesNothingOfItsOwn()
    {
        using var recorded = new Recorded(keep: false);
        var snapshot = Snapshot(MeshSection + Clusters);
        var context = Context(new MeshPeerFeature("spiffe://mesh.local/ns/shop/sa/gateway"));
        recorded.Metrics.Record(context, snapshot, "mesh-orders", 200, 1);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++) recorded.Metrics.Record(context, snapshot, "mesh-orders", 200, 1);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(2002, recorded.Count); // each request on both sides, the first call's included
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Record_MetricsDisabled_RecordsNothing()
    {
        using var recorded = new Recorded(enabled: false);

        recorded.Metrics.Record(Context(new MeshPeerFeature(null)), Snapshot(MeshSection + Clusters), "mesh-orders", 200, 1);

        Assert.Empty(recorded.Lines);
    }

    private static ConfigSnapshot Snapshot(string yaml)
    {
        var result = ConfigLoader.Load(yaml.StartsWith("listeners", StringComparison.Ordinal) ? yaml : Listener + yaml, null, TestKit.TempDirectory.Create());
        return result.Snapshot ?? throw new InvalidOperationException(string.Join("; ", result.Errors));
    }

    private static DefaultHttpContext Context(MeshPeerFeature? peer)
    {
        var context = new DefaultHttpContext();
        if (peer is not null) context.Features.Set(peer);
        return context;
    }

    /// <summary>A meter factory of its own with a listener on the mesh instruments, writing each measurement as one line.</summary>
    private sealed class Recorded : IDisposable
    {
        private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        private readonly MeterListener _listener = new();

        public Recorded(bool enabled = true, bool keep = true)
        {
            var factory = _services.GetRequiredService<IMeterFactory>();
            Metrics = new MeshEdgeMetrics(factory, enabled);
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == factory && instrument.Name.StartsWith("meshgate.mesh.", StringComparison.Ordinal)) listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(keep, instrument, value, tags));
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(keep, instrument, Math.Round(value, 6), tags));
            _listener.Start();
        }

        public MeshEdgeMetrics Metrics { get; }

        public List<string> Lines { get; } = [];

        public int Count { get; private set; }

        private void Add<T>(bool keep, Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (instrument.Name == MeshEdgeMetrics.RequestsName) Count++;
            if (!keep) return;
            var line = $"{instrument.Name} {value}";
            foreach (var tag in tags) line += $" {tag.Key}={tag.Value}";
            Lines.Add(line);
        }

        public void Dispose()
        {
            _listener.Dispose();
            _services.Dispose();
        }
    }
}
