using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Meshgate.Commands;

/// <summary>`meshgate status`: what a running gateway serves, read from its admin API.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var admin = AdminClient.AdminOption();
        var token = AdminClient.TokenOption();
        var command = new Command("status", "Print a running gateway's config version, listeners, routes and clusters with each endpoint's health, from its admin API.") { admin, token };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            using var client = AdminClient.Create(parse.GetValue(admin)!, parse.GetValue(token), error);
            if (client is null) return AdminClient.UsageExitCode;
            try
            {
                var status = await client.GetAsync("admin/config/status", cancellationToken);
                var config = await client.GetAsync("admin/config", cancellationToken);
                var routes = await client.GetAsync("admin/routes", cancellationToken);
                var clusters = await client.GetAsync("admin/clusters", cancellationToken);
                Print(output, client.BaseAddress, status, config, routes, clusters);
                return 0;
            }
            catch (AdminException e)
            {
                error.WriteLine(e.Message);
                return AdminClient.FailedExitCode;
            }
        });
        return command;
    }

    private static void Print(TextWriter output, Uri admin, JsonElement status, JsonElement config, JsonElement routes, JsonElement clusters)
    {
        output.WriteLine($"admin      {admin}");
        output.WriteLine($"config     version {Text(status, "version")}, generation {Text(status, "generation")}, loaded {Text(status, "loadedAt")}");
        if (status.TryGetProperty("lastAttemptSucceeded", out var succeeded) && succeeded.ValueKind == JsonValueKind.False)
        {
            output.WriteLine($"           last reload ({Text(status, "lastTrigger")}, {Text(status, "lastAttemptAt")}) was REJECTED; the version above keeps serving:");
            foreach (var e in status.GetProperty("lastErrors").EnumerateArray()) output.WriteLine($"             {e.GetString()}");
        }

        output.WriteLine();
        output.WriteLine("listeners");
        if (config.TryGetProperty("listeners", out var listeners) && listeners.ValueKind == JsonValueKind.Array)
        {
            foreach (var l in listeners.EnumerateArray())
            {
                var tls = l.TryGetProperty("tls", out var t) && t.ValueKind == JsonValueKind.Object ? "https" : "http";
                output.WriteLine($"  {Text(l, "name"),-16} {Text(l, "address"),-24} {tls}");
            }
        }

        output.WriteLine();
        output.WriteLine("routes");
        foreach (var r in routes.EnumerateArray())
        {
            var target = r.TryGetProperty("cluster", out var c) && c.ValueKind == JsonValueKind.String
                ? "cluster " + c.GetString()
                : "split " + string.Join(", ", r.GetProperty("split").EnumerateArray().Select(s => $"{Text(s, "cluster")} {Text(s, "weight")}"));
            output.WriteLine($"  {Text(r, "id"),-16} {Match(r),-32} -> {target}");
        }

        output.WriteLine();
        output.WriteLine("clusters");
        foreach (var cluster in clusters.EnumerateArray())
        {
            var endpoints = cluster.GetProperty("endpoints");
            output.WriteLine($"  {Text(cluster, "id"),-16} {Text(cluster, "availableEndpoints")} of {endpoints.GetArrayLength()} endpoints available, load balancing {Text(cluster, "loadBalancing", "default")}");
            foreach (var e in endpoints.EnumerateArray())
            {
                output.WriteLine($"    {Text(e, "address"),-40} {Text(e, "health"),-28} weight {Text(e, "weight")}, {Text(e, "activeRequests")} active");
            }
        }
    }

    /// <summary>The route's match in one line: methods, hosts, path.</summary>
    private static string Match(JsonElement route)
    {
        if (!route.TryGetProperty("match", out var match) || match.ValueKind != JsonValueKind.Object) return "";
        var parts = new List<string>();
        foreach (var name in new[] { "methods", "hosts" })
        {
            if (match.TryGetProperty(name, out var list) && list.ValueKind == JsonValueKind.Array) parts.Add(string.Join(",", list.EnumerateArray().Select(v => v.GetString())));
        }
        foreach (var name in new[] { "path", "pathPrefix" })
        {
            if (match.TryGetProperty(name, out var path) && path.ValueKind == JsonValueKind.String) parts.Add(path.GetString()!);
        }
        return string.Join(" ", parts);
    }

    internal static string Text(JsonElement element, string property, string missing = "-")
    {
        if (!element.TryGetProperty(property, out var value)) return missing;
        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => missing,
        };
    }

    internal static string Number(double? value, string format) => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
}
