using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Meshgate.Configuration.Model;

namespace Meshgate.Commands;

/// <summary>`meshgate top`: a table per route of the last minute's traffic, from the admin API's /admin/stats.</summary>
internal static class TopCommand
{
    // Home the cursor, draw, then clear what an older, longer table left below.
    internal const string Home = "\u001b[H";
    internal const string ClearBelow = "\u001b[J";
    internal const string ClearScreen = "\u001b[2J";

    public static Command Create()
    {
        var admin = AdminClient.AdminOption();
        var token = AdminClient.TokenOption();
        var once = new Option<bool>("--once") { Description = "Print one table and exit." };
        var mesh = new Option<bool>("--mesh")
        {
            Description = "Show the mesh's edges (source -> destination service) instead of routes: --admin is then the control plane's admin URL, and every registered sidecar's /metrics is read.",
        };
        var interval = new Option<string>("--interval")
        {
            Description = "How often the table refreshes: 500ms, 2s, 1m.",
            DefaultValueFactory = _ => "2s",
        };
        var command = new Command("top", "Show live traffic per route (requests, requests/s, success rate, p50 and p99 latency over the last minute) from a running gateway's admin API, or with --mesh per edge between mesh services from every sidecar; refreshes until Ctrl+C.")
        {
            admin, token, once, interval, mesh,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (!Duration.TryParse(parse.GetValue(interval)!, out var every) || every < TimeSpan.FromMilliseconds(100))
            {
                error.WriteLine($"bad --interval '{parse.GetValue(interval)}': give a duration of at least 100ms, e.g. 2s");
                return AdminClient.UsageExitCode;
            }
            using var client = AdminClient.Create(parse.GetValue(admin)!, parse.GetValue(token), error);
            if (client is null) return AdminClient.UsageExitCode;
            // Redraw in place only on a terminal; piped or captured output gets one plain table after another.
            var live = !parse.GetValue(once) && ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
            if (parse.GetValue(mesh)) return await MeshTop.RunAsync(client, parse.GetValue(once), every, live, output, error, cancellationToken);
            try
            {
                if (live) output.Write(ClearScreen);
                while (true)
                {
                    var table = Table(client.BaseAddress, await client.GetAsync("admin/stats", cancellationToken));
                    if (live) output.Write(Home + table + ClearBelow);
                    else output.Write(table);
                    output.Flush();
                    if (parse.GetValue(once)) return 0;
                    if (!live) output.WriteLine();
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
        });
        return command;
    }

    /// <summary>The table for one /admin/stats answer; success means not 5xx.</summary>
    internal static string Table(Uri admin, JsonElement stats)
    {
        var rows = stats.GetProperty("routes").EnumerateArray().Select(r => (Name: r.GetProperty("route").GetString()!, Stats: r)).ToList();
        var noRoute = stats.GetProperty("noRoute");
        if (noRoute.GetProperty("lastMinute").GetProperty("requests").GetInt64() > 0) rows.Add(("(no route)", noRoute));
        var width = Math.Max(12, rows.Count == 0 ? 0 : rows.Max(r => r.Name.Length));

        var text = new StringBuilder();
        var now = stats.TryGetProperty("now", out var n) && n.TryGetDateTimeOffset(out var at) ? at.ToUniversalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture) + " UTC" : "";
        text.AppendLine(CultureInfo.InvariantCulture, $"meshgate top  {admin}  {now}  last minute per route");
        text.AppendLine(CultureInfo.InvariantCulture, $"{"ROUTE".PadRight(width)}  {"REQUESTS",9}  {"REQ/S",9}  {"SUCCESS",8}  {"P50 ms",9}  {"P99 ms",9}");
        foreach (var (name, route) in rows)
        {
            var minute = route.GetProperty("lastMinute");
            var requests = minute.GetProperty("requests").GetInt64();
            var success = requests == 0 ? "-" : (100 * (1 - minute.GetProperty("errorRate").GetDouble())).ToString("0.0", CultureInfo.InvariantCulture) + "%";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{name.PadRight(width)}  {requests,9}  {minute.GetProperty("requestsPerSecond").GetDouble(),9:0.00}  {success,8}  {StatusCommand.Number(Double(minute, "p50Ms"), "0.0"),9}  {StatusCommand.Number(Double(minute, "p99Ms"), "0.0"),9}");
        }
        if (rows.Count == 0) text.AppendLine("(no routes)");
        return text.ToString();
    }

    private static double? Double(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}
