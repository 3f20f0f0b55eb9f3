using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.AccessLog;

/// <summary>Reading what the gateway's access-log writer (which runs behind the requests) has written.</summary>
internal static class AccessLogFiles
{
    public static string[] Lines(string path) =>
        File.Exists(path) ? File.ReadAllText(path).Split('\n', StringSplitOptions.RemoveEmptyEntries) : [];

    /// <summary>Waits until the file holds <paramref name="count"/> lines; returns them parsed.</summary>
    public static async Task<List<JsonElement>> WaitForLinesAsync(string path, int count)
    {
        await Eventually.HoldsAsync(() => Task.FromResult(Lines(path).Length >= count), TimeSpan.FromSeconds(10), $"{count} lines in {path}; found {Lines(path).Length}");
        return Lines(path).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    /// <summary>The admin API's view of the access log.</summary>
    public static async Task<JsonElement> StatusAsync(TestGateway gateway) =>
        JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/accesslog")).RootElement.Clone();

    /// <summary>SHA-256 of "alice-key", as `meshgate hash-key` prints it.</summary>
    public const string AliceKeyHash = "72ee9d4355ccb9d3a4c9dbf37382e38e75c1b1a225b5bd1f729ee91bbda30c20";
}
