using Meshgate.Commands;

namespace Meshgate.IntegrationTests.Mesh;

/// <summary>`meshgate top --mesh`'s arithmetic on scrapes: parsing, quantiles, which side an edge is shown from, windows.</summary>
public sealed class MeshEdgeTableTests
{
    private const string Labels = "destination_namespace=\"default\",destination_service=\"orders\",direction=\"{0}\",otel_scope_name=\"Meshgate\",source_namespace=\"default\",source_service=\"frontend\",http_response_status_code=\"{1}\"";

    /// <summary>A scrape as the exporter writes it: <paramref name="ok"/> 200s in the 1-2 ms bucket, <paramref name="failed"/> 500s in the 5-10 ms bucket.</summary>
    private static string Scrape(string direction, int ok, int failed)
    {
        var text = "# TYPE meshgate_mesh_request_duration_seconds histogram\n";
        foreach (var (statusClass, count, bucket) in new[] { ("200", ok, 0.002), ("500", failed, 0.01) })
        {
            var labels = string.Format(System.Globalization.CultureInfo.InvariantCulture, Labels, direction, statusClass);
            foreach (var bound in new[] { 0.001, 0.002, 0.005, 0.01 })
            {
                text += $"meshgate_mesh_request_duration_seconds_bucket{{{labels},le=\"{bound.ToString(System.Globalization.CultureInfo.InvariantCulture)}\"}} {(bound >= bucket ? count : 0)} 1764480000000\n";
            }
            text += $"meshgate_mesh_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count} 1764480000000\n";
            text += $"meshgate_mesh_request_duration_seconds_sum{{{labels}}} 0.1 1764480000000\n";
            text += $"meshgate_mesh_request_duration_seconds_count{{{labels}}} {count} 1764480000000\n";
            text += $"meshgate_mesh_requests_total{{{labels}}} {count} 1764480000000\n";
        }
        return text + "http_server_request_duration_seconds_count{http_request_method=\"GET\"} 99\n";
    }

    [Fact]
    public void Parse_ExporterText_EdgeWithCountsByStatusAndSummedBuckets()
    {
        var edges = MeshEdgeTable.Parse(Scrape("outbound", ok: 20, failed: 5));

        var (edge, figures) = Assert.Single(edges);
        Assert.Equal(new MeshEdge("outbound", "default", "frontend", "default", "orders"), edge);
        Assert.Equal("frontend -> orders", edge.Name);
        Assert.Equal(25, figures.Requests);
        Assert.Equal(20, figures.Successes);
        Assert.Equal(25, figures.Buckets[double.PositiveInfinity]);
        Assert.Equal(20, figures.Buckets[0.002]);
    }

    [Fact]
    public void Quantile_InterpolatesWithinTheBucket_AsHistogramQuantileDoes()
    {
        var figures = MeshEdgeTable.Parse(Scrape("outbound", ok: 20, failed: 5)).Single().Value;

        Assert.Equal(0.001625, figures.Quantile(0.5)!.Value, 9);  // rank 12.5: 1 ms + 12.5/20 of (1 ms, 2 ms]
        Assert.Equal(0.00975, figures.Quantile(0.99)!.Value, 9);  // rank 24.75: 5 ms + 4.75/5 of (5 ms, 10 ms]
        Assert.Null(new MeshEdgeFigures().Quantile(0.5));
    }

    [Fact]
    public void Rows_EdgeSeenByBothSides_ShownFromTheCaller_InboundOnlyEdgeFromTheCallee()
    {
        var edges = MeshEdgeTable.Parse(Scrape("outbound", 20, 5));
        foreach (var (edge, figures) in MeshEdgeTable.Parse(Scrape("inbound", 19, 5))) edges[edge] = figures;
        var unknown = new MeshEdge("inbound", "unknown", "unknown", "default", "orders");
        var elsewhere = new MeshEdge("outbound", "shop", "cart", "billing", "payments");
        edges[elsewhere] = new MeshEdgeFigures();
        edges[unknown] = new MeshEdgeFigures();
        edges[unknown].ByStatus["200"] = 3;

        var rows = MeshEdgeTable.Rows(edges);

        Assert.Equal(["frontend -> orders outbound 25", "shop/cart -> billing/payments outbound 0", "unknown -> orders inbound 3"], rows.Select(r => $"{r.Edge.Name} {r.Edge.Direction} {r.Figures.Requests}"));
    }

    [Fact]
    public void Difference_SecondReading_CountsOnlyWhatHappenedBetween_AndARestartCountsWhole()
    {
        MeshTop.Reading Reading(params (string Instance, int Ok, int Failed)[] sidecars) => new(sidecars.Length,
            sidecars.ToDictionary(s => s.Instance, s => MeshEdgeTable.Parse(Scrape("outbound", s.Ok, s.Failed))), [], 0);
        var first = Reading(("a", 20, 5), ("b", 10, 0));

        var totals = MeshTop.Difference(first, null);
        var window = MeshTop.Difference(Reading(("a", 26, 6), ("b", 2, 0), ("new", 50, 0)), first);

        Assert.Equal(35, totals.Single().Value.Requests);
        // a: 7 more; b restarted (its counter went down): its 2 count whole; new: not read before, so no window yet.
        Assert.Equal(9, window.Single().Value.Requests);
        Assert.Equal(8, window.Single().Value.Successes);
    }

    [Fact]
    public void Render_Window_RatePerSecondAndSuccess_ProblemsBelowTheTable()
    {
        var edges = MeshEdgeTable.Parse(Scrape("outbound", 20, 5));

        var table = MeshEdgeTable.Render(new Uri("http://127.0.0.1:15011/"), DateTimeOffset.Parse("2026-11-30T08:00:00Z"), 3, TimeSpan.FromSeconds(2), edges,
            ["unreachable: orders (orders-1) at http://127.0.0.1:1/metrics: Connection refused (127.0.0.1:1)"]);

        var lines = table.TrimEnd().Split('\n').Select(l => l.TrimEnd()).ToList();
        Assert.Equal("meshgate top --mesh  http://127.0.0.1:15011/  08:00:00 UTC  3 sidecars  last 2.0s per edge", lines[0]);
        Assert.Equal(["frontend", "->", "orders", "outbound", "25", "12.50", "80.0%", "1.6", "9.8"], lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("unreachable: orders (orders-1) at http://127.0.0.1:1/metrics: Connection refused (127.0.0.1:1)", lines[3]);
    }
}
