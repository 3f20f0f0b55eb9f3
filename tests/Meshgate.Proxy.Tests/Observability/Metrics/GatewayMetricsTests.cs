using System.Diagnostics.Metrics;
using Meshgate.Proxy.Observability.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.Proxy.Tests.Observability.Metrics;

public sealed class GatewayMetricsTests
{
    [Theory]
    [InlineData("GET", "GET")]
    [InlineData("PATCH", "PATCH")]
    [InlineData("get", "_OTHER")]
    [InlineData("PROPFIND", "_OTHER")]
    [InlineData("X-RANDOM-12345", "_OTHER")]
    public void KnownMethod_OnlyStandardMethods_BecomeLabels(string method, string label) =>
        Assert.Equal(label, GatewayMetrics.KnownMethod(method));

    [Fact]
    public void RecordBodySizes_NoRoute_LeavesTheRouteAndClusterLabelsOut()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        var metrics = new GatewayMetrics(factory, enabled: true);
        var recorded = new List<(string Instrument, long Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == factory) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            recorded.Add((instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value))));
        listener.Start();

        metrics.RecordBodySizes("BREW", route: null, cluster: null, requestBytes: 12, responseBytes: 345);
        metrics.RecordBodySizes("POST", route: "orders", cluster: "orders-v2", requestBytes: 0, responseBytes: 7);
        metrics.RecordBodySizes("GET", route: "orders", cluster: "orders-v2", requestBytes: null, responseBytes: 9);

        Assert.Equal(5, recorded.Count);
        var unrouted = recorded.Single(r => r.Instrument == "http.server.response.body.size" && r.Value == 345);
        Assert.Equal(new Dictionary<string, object?> { ["http.request.method"] = "_OTHER" }, unrouted.Tags);
        // An empty body is a size (0); a request without one has none: only its response is recorded.
        var routed = recorded.Single(r => r.Instrument == "http.server.request.body.size" && r.Value == 0);
        Assert.Equal("orders", routed.Tags["meshgate.route"]);
        Assert.Equal("orders-v2", routed.Tags["meshgate.cluster"]);
        Assert.Equal("POST", routed.Tags["http.request.method"]);
        Assert.DoesNotContain(recorded, r => r.Instrument == "http.server.request.body.size" && (string?)r.Tags["http.request.method"] == "GET");
        Assert.Single(recorded, r => r.Instrument == "http.server.response.body.size" && r.Value == 9);
    }

    [Fact]
    public void Disabled_MakesNoInstruments()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        var published = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Scope == factory) published++;
        };
        listener.Start();

        var metrics = new GatewayMetrics(factory, enabled: false);
        metrics.RecordBodySizes("GET", "r", "c", 1, 2);
        metrics.RecordUpstreamAttempt("r", "c", 200, 0.1);

        Assert.False(metrics.Enabled);
        Assert.Equal(0, published);
    }
}
