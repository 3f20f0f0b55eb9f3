using System.Globalization;
using System.Text;

namespace Meshgate.Commands;

/// <summary>One edge of the mesh as one side saw it: who called whom, and which proxy reported it.</summary>
internal readonly record struct MeshEdge(string Direction, string SourceNamespace, string SourceService, string DestinationNamespace, string DestinationService)
{
    /// <summary>"frontend -> orders"; a namespace other than default is written before its service ("shop/frontend"), a caller without identity is "unknown".</summary>
    public string Name => $"{Qualified(SourceNamespace, SourceService)} -> {Qualified(DestinationNamespace, DestinationService)}";

    private static string Qualified(string ns, string service) => ns == "default" || (ns == "unknown" && service == "unknown") ? service : ns + "/" + service;
}

/// <summary>
/// The figures of one edge: requests by status code and the latency histogram's cumulative bucket counts, summed over
/// whatever was added (status codes, sidecars). Figures over a window are the difference of two of these.
/// </summary>
internal sealed class MeshEdgeFigures
{
    /// <summary>Requests by status code, as the label's text ("200", "503").</summary>
    public Dictionary<string, double> ByStatus { get; } = new(StringComparer.Ordinal);

    /// <summary>Cumulative bucket counts by upper bound (+Inf included), as Prometheus gives them.</summary>
    public SortedDictionary<double, double> Buckets { get; } = [];

    public double Requests => ByStatus.Values.Sum();

    /// <summary>Requests that did not end in a 5xx (what `meshgate top` calls success).</summary>
    public double Successes => Requests - ByStatus.Where(s => s.Key.StartsWith('5')).Sum(s => s.Value);

    public void Add(MeshEdgeFigures other, double sign = 1)
    {
        foreach (var (status, count) in other.ByStatus) ByStatus[status] = ByStatus.GetValueOrDefault(status) + sign * count;
        foreach (var (bound, count) in other.Buckets) Buckets[bound] = Buckets.GetValueOrDefault(bound) + sign * count;
    }

    /// <summary>
    /// The <paramref name="q"/> quantile in seconds, interpolated within its bucket as Prometheus' histogram_quantile
    /// does; null without requests. A quantile in the +Inf bucket is the highest finite bound.
    /// </summary>
    public double? Quantile(double q)
    {
        if (Buckets.Count == 0 || !Buckets.TryGetValue(double.PositiveInfinity, out var total) || total <= 0) return null;
        var rank = q * total;
        var lower = 0.0;
        var below = 0.0;
        foreach (var (bound, cumulative) in Buckets)
        {
            if (cumulative >= rank)
            {
                if (double.IsPositiveInfinity(bound)) return lower;
                var inBucket = cumulative - below;
                return inBucket <= 0 ? bound : lower + (bound - lower) * (rank - below) / inBucket;
            }
            lower = bound;
            below = cumulative;
        }
        return lower;
    }
}

/// <summary>
/// The mesh's golden metrics as `meshgate top --mesh` reads them from the sidecars' /metrics
/// (<c>meshgate_mesh_request_duration_seconds</c>, which the Prometheus exporter writes from <c>meshgate.mesh.request.duration</c>),
/// merged over sidecars and drawn as one table.
/// </summary>
internal static class MeshEdgeTable
{
    private const string Histogram = "meshgate_mesh_request_duration_seconds";

    /// <summary>Every edge in one /metrics text, with its figures. Other metrics are skipped unread.</summary>
    public static Dictionary<MeshEdge, MeshEdgeFigures> Parse(string text)
    {
        var edges = new Dictionary<MeshEdge, MeshEdgeFigures>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (!line.StartsWith(Histogram, StringComparison.Ordinal)) continue;
            var suffix = line.AsSpan(Histogram.Length);
            var isBucket = suffix.StartsWith("_bucket{");
            if (!isBucket && !suffix.StartsWith("_count{")) continue;
            if (!TryParseSample(line, out var labels, out var value)) continue;
            if (!labels.TryGetValue("direction", out var direction) || !labels.TryGetValue("http_response_status_code", out var status)) continue;
            var edge = new MeshEdge(direction, labels.GetValueOrDefault("source_namespace", "?"), labels.GetValueOrDefault("source_service", "?"),
                labels.GetValueOrDefault("destination_namespace", "?"), labels.GetValueOrDefault("destination_service", "?"));
            if (!edges.TryGetValue(edge, out var figures)) edges[edge] = figures = new MeshEdgeFigures();
            if (isBucket)
            {
                if (!labels.TryGetValue("le", out var le)) continue;
                var bound = le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture);
                figures.Buckets[bound] = figures.Buckets.GetValueOrDefault(bound) + value;
            }
            else
            {
                figures.ByStatus[status] = figures.ByStatus.GetValueOrDefault(status) + value;
            }
        }
        return edges;
    }

    /// <summary>name{label="value",...} value [timestamp]; false for a line of another shape.</summary>
    private static bool TryParseSample(string line, out Dictionary<string, string> labels, out double value)
    {
        labels = new Dictionary<string, string>(StringComparer.Ordinal);
        value = 0;
        var i = line.IndexOf('{') + 1;
        while (i < line.Length && line[i] != '}')
        {
            var eq = line.IndexOf('=', i);
            if (eq < 0 || eq + 1 >= line.Length || line[eq + 1] != '"') return false;
            var name = line[i..eq].Trim();
            var text = new StringBuilder();
            i = eq + 2;
            while (i < line.Length && line[i] != '"')
            {
                if (line[i] == '\\' && i + 1 < line.Length)
                {
                    i++;
                    text.Append(line[i] == 'n' ? '\n' : line[i]);
                }
                else
                {
                    text.Append(line[i]);
                }
                i++;
            }
            labels[name] = text.ToString();
            i++;
            if (i < line.Length && line[i] == ',') i++;
        }
        if (i >= line.Length) return false;
        var fields = line[(i + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 0 && double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>
    /// The rows to show: one per source → destination, from the caller's side (outbound: what the calling app got, failures
    /// to reach the callee included) when a caller's sidecar reported the edge, else from the callee's side (inbound: callers
    /// without a sidecar, plaintext callers as "unknown", gateways not scraped).
    /// </summary>
    public static List<(MeshEdge Edge, MeshEdgeFigures Figures)> Rows(IReadOnlyDictionary<MeshEdge, MeshEdgeFigures> edges)
    {
        var outbound = edges.Keys.Where(e => e.Direction == "outbound").Select(e => e with { Direction = "" }).ToHashSet();
        return edges
            .Where(e => e.Key.Direction == "outbound" || (e.Key.Direction == "inbound" && !outbound.Contains(e.Key with { Direction = "" })))
            .Select(e => (e.Key, e.Value))
            .OrderBy(e => e.Key.Name, StringComparer.Ordinal)
            .ToList();
    }

    /// <param name="window">The time the figures cover; null: since the sidecars started (no rate).</param>
    /// <param name="problems">One line per sidecar that could not be read.</param>
    public static string Render(Uri controlPlane, DateTimeOffset now, int sidecars, TimeSpan? window, IReadOnlyDictionary<MeshEdge, MeshEdgeFigures> edges, IReadOnlyList<string> problems)
    {
        var rows = Rows(edges);
        var width = Math.Max(24, rows.Count == 0 ? 0 : rows.Max(r => r.Edge.Name.Length));
        var text = new StringBuilder();
        var span = window is { } w ? $"last {w.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s" : "since the sidecars started";
        text.AppendLine(CultureInfo.InvariantCulture, $"meshgate top --mesh  {controlPlane}  {now.ToUniversalTime():HH:mm:ss} UTC  {sidecars} sidecar{(sidecars == 1 ? "" : "s")}  {span} per edge");
        text.AppendLine(CultureInfo.InvariantCulture, $"{"SOURCE -> DESTINATION".PadRight(width)}  {"SIDE",-8}  {"REQUESTS",9}  {"REQ/S",9}  {"SUCCESS",8}  {"P50 ms",9}  {"P99 ms",9}");
        foreach (var (edge, figures) in rows)
        {
            var requests = figures.Requests;
            var rate = window is { TotalSeconds: > 0 } covered ? (requests / covered.TotalSeconds).ToString("0.00", CultureInfo.InvariantCulture) : "-";
            var success = requests <= 0 ? "-" : (100 * figures.Successes / requests).ToString("0.0", CultureInfo.InvariantCulture) + "%";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{edge.Name.PadRight(width)}  {edge.Direction,-8}  {requests,9:0}  {rate,9}  {success,8}  {Milliseconds(requests > 0 ? figures.Quantile(0.5) : null),9}  {Milliseconds(requests > 0 ? figures.Quantile(0.99) : null),9}");
        }
        if (rows.Count == 0) text.AppendLine("(no traffic between mesh services yet)");
        foreach (var problem in problems) text.AppendLine(problem);
        return text.ToString();
    }

    private static string Milliseconds(double? seconds) => StatusCommand.Number(seconds * 1000, "0.0");
}
