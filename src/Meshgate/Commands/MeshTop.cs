using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Meshgate.Mesh.Sidecar;

namespace Meshgate.Commands;

/// <summary>
/// `meshgate top --mesh`: the mesh's golden metrics per edge, across the whole mesh. The control plane's
/// /admin/services lists every registered instance with its sidecar's admin URL (the <see cref="InstanceRegistration.AdminLabel"/>
/// label); each sidecar's /metrics is scraped and the edges are summed over sidecars. The first table covers the time
/// since the sidecars started; each later one the time since the table before, from the difference of two scrapes.
/// </summary>
internal static class MeshTop
{
    private static readonly TimeSpan ScrapeTimeout = TimeSpan.FromSeconds(3);

    /// <summary>One registered instance: where its sidecar's admin API is, when it said.</summary>
    internal sealed record Sidecar(string Service, string InstanceId, string? AdminUrl)
    {
        public override string ToString() => $"{Service} ({InstanceId})";
    }

    /// <summary>One refresh's reading: the edges of each sidecar read, and one line per sidecar that was not.</summary>
    internal sealed record Reading(int Sidecars, Dictionary<string, Dictionary<MeshEdge, MeshEdgeFigures>> ByInstance, List<string> Problems, long Timestamp);

    /// <returns>0, or 1 when a sidecar could not be read (after printing the table with a line for it) or the control plane could not.</returns>
    public static async Task<int> RunAsync(AdminClient controlPlane, bool once, TimeSpan every, bool live, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = ScrapeTimeout };
        Reading? previous = null;
        try
        {
            if (live) output.Write(TopCommand.ClearScreen);
            while (true)
            {
                var reading = await ReadAsync(controlPlane, http, cancellationToken);
                var window = previous is null ? (TimeSpan?)null : Stopwatch.GetElapsedTime(previous.Timestamp, reading.Timestamp);
                var table = MeshEdgeTable.Render(controlPlane.BaseAddress, DateTimeOffset.UtcNow, reading.Sidecars, window, Difference(reading, previous), reading.Problems);
                if (live) output.Write(TopCommand.Home + table + TopCommand.ClearBelow);
                else output.Write(table);
                output.Flush();
                if (once) return reading.Problems.Count == 0 ? 0 : AdminClient.FailedExitCode;
                if (!live) output.WriteLine();
                previous = reading;
                await Task.Delay(every, cancellationToken);
            }
        }
        catch (AdminException e)
        {
            error.WriteLine(e.Message);
            return AdminClient.FailedExitCode;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 0;
        }
    }

    internal static async Task<Reading> ReadAsync(AdminClient controlPlane, HttpClient http, CancellationToken cancellationToken)
    {
        var sidecars = Sidecars(await ServicesAsync(controlPlane, cancellationToken));
        var scrapes = await Task.WhenAll(sidecars.Select(s => ScrapeAsync(http, s, cancellationToken)));
        var timestamp = Stopwatch.GetTimestamp();
        var byInstance = new Dictionary<string, Dictionary<MeshEdge, MeshEdgeFigures>>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var (sidecar, edges, problem) in scrapes)
        {
            if (edges is not null) byInstance[sidecar.InstanceId] = edges;
            if (problem is not null) problems.Add(problem);
        }
        return new Reading(sidecars.Count, byInstance, problems, timestamp);
    }

    private static async Task<JsonElement> ServicesAsync(AdminClient controlPlane, CancellationToken cancellationToken)
    {
        try
        {
            return await controlPlane.GetAsync("admin/services", cancellationToken);
        }
        catch (AdminException e)
        {
            // A gateway's or a sidecar's admin URL is the likely mistake: say which one --mesh wants.
            throw new AdminException($"{e.Message.TrimEnd('.')}. With --mesh, --admin is the control plane's admin URL (meshgate control-plane --admin, e.g. http://127.0.0.1:15011).");
        }
    }

    /// <summary>Every registered instance of /admin/services, in service and instance order.</summary>
    internal static List<Sidecar> Sidecars(JsonElement services)
    {
        if (services.ValueKind != JsonValueKind.Object || !services.TryGetProperty("services", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            throw new AdminException("the admin API's /admin/services has no services list: with --mesh, --admin is the control plane's admin URL (e.g. http://127.0.0.1:15011)");
        }
        var sidecars = new List<Sidecar>();
        foreach (var service in list.EnumerateArray())
        {
            if (Text(service, "name") is not { } name || !service.TryGetProperty("instances", out var instances) || instances.ValueKind != JsonValueKind.Array) continue;
            foreach (var instance in instances.EnumerateArray())
            {
                var admin = instance.TryGetProperty("labels", out var labels) && labels.ValueKind == JsonValueKind.Object ? Text(labels, InstanceRegistration.AdminLabel) : null;
                sidecars.Add(new Sidecar(name, Text(instance, "instanceId") ?? "?", admin));
            }
        }
        return sidecars;
    }

    private static string? Text(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>The sidecar's edges, or one line saying why they could not be read.</summary>
    internal static async Task<(Sidecar Sidecar, Dictionary<MeshEdge, MeshEdgeFigures>? Edges, string? Problem)> ScrapeAsync(HttpClient http, Sidecar sidecar, CancellationToken cancellationToken)
    {
        if (sidecar.AdminUrl is null)
        {
            return (sidecar, null, $"not read: {sidecar} registered no {InstanceRegistration.AdminLabel} label (not a meshgate sidecar, or an older one), so its /metrics is unknown");
        }
        if (!Uri.TryCreate(sidecar.AdminUrl.TrimEnd('/') + "/metrics", UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            return (sidecar, null, $"not read: {sidecar} registered {InstanceRegistration.AdminLabel}={sidecar.AdminUrl}, which is not an http:// URL");
        }
        try
        {
            using var response = await http.GetAsync(url, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var hint = response.StatusCode switch
                {
                    HttpStatusCode.NotFound => " (metrics.enabled: false?)",
                    HttpStatusCode.Unauthorized => " (its admin API wants a token)",
                    _ => "",
                };
                return (sidecar, null, $"unreachable: {sidecar} at {url} answered {(int)response.StatusCode} {response.ReasonPhrase}{hint}");
            }
            return (sidecar, MeshEdgeTable.Parse(await response.Content.ReadAsStringAsync(cancellationToken)), null);
        }
        catch (HttpRequestException e)
        {
            return (sidecar, null, $"unreachable: {sidecar} at {url}: {e.Message}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (sidecar, null, $"unreachable: {sidecar} at {url} did not answer within {ScrapeTimeout.TotalSeconds:0}s");
        }
    }

    /// <summary>
    /// The edges over the window since <paramref name="previous"/>: per sidecar read both times, the later figures less the
    /// earlier ones (a counter that went down means the sidecar restarted: its later figures count whole, as Prometheus'
    /// rate() takes a reset). A sidecar not read both times adds nothing. Without <paramref name="previous"/>: the totals.
    /// </summary>
    internal static Dictionary<MeshEdge, MeshEdgeFigures> Difference(Reading current, Reading? previous)
    {
        var merged = new Dictionary<MeshEdge, MeshEdgeFigures>();
        foreach (var (instance, edges) in current.ByInstance)
        {
            Dictionary<MeshEdge, MeshEdgeFigures>? before = null;
            if (previous is not null && !previous.ByInstance.TryGetValue(instance, out before)) continue;
            foreach (var (edge, figures) in edges)
            {
                if (!merged.TryGetValue(edge, out var sum)) merged[edge] = sum = new MeshEdgeFigures();
                sum.Add(figures);
                if (before?.GetValueOrDefault(edge) is { } earlier && earlier.Requests <= figures.Requests) sum.Add(earlier, -1);
            }
        }
        return merged;
    }
}
