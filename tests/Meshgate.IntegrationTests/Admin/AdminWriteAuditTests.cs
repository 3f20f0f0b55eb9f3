using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Admin;

/// <summary>The audit lines of admin writes, read from the real process's log output.</summary>
[Trait("Runs", "meshgate")]
public sealed class AdminWriteAuditTests
{
    private const string Token = "audit-admin-token-0123456789";

    [Fact]
    public async Task EveryWrite_AppliedOrRefused_HasAnAuditLine_WithoutTheToken()
    {
        await using var upstream = await TestUpstream.NamedAsync("A");
        var config = Path.Combine(TempDirectory.Create(), "meshgate.yaml");
        await File.WriteAllTextAsync(config, $$"""
            listeners: [{ name: public, address: 127.0.0.1:0 }]
            admin: { address: 127.0.0.1:0, token: {{Token}} }
            routes: [{ id: a, match: { pathPrefix: /a }, cluster: a }]
            clusters: [{ id: a, endpoints: ["{{upstream.Endpoint}}"] }]
            """);
        await using var process = MeshgateProcess.Start("gateway", "-c", config);
        var urls = await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(30));
        using var admin = new HttpClient { BaseAddress = urls[1] };

        await process.CheckAsync(async () =>
        {
            using var status = await admin.SendAsync(Authorized(new HttpRequestMessage(HttpMethod.Get, "/admin/config/status")));
            var revision = status.Headers.ETag!.Tag;

            using var applied = await admin.SendAsync(Write("/admin/routes/b", revision, Token));
            using var stale = await admin.SendAsync(Write("/admin/routes/c", revision, Token));
            using var unauthorized = await admin.SendAsync(Write("/admin/routes/d", revision, "wrong-token-0123456789"));
            Assert.Equal([HttpStatusCode.Created, HttpStatusCode.Conflict, HttpStatusCode.Unauthorized], [applied.StatusCode, stale.StatusCode, unauthorized.StatusCode]);
            var next = applied.Headers.ETag!.Tag.Trim('"');

            await Eventually.HoldsAsync(() => Task.FromResult(process.Output.Contains("outcome unauthorized", StringComparison.Ordinal)), TimeSpan.FromSeconds(10), "the audit lines are written");
            var lines = process.Output.Split('\n').Where(l => l.Contains("Meshgate.Admin.ConfigWrites", StringComparison.Ordinal)).ToList();
            Assert.Equal(3, lines.Count);
            Assert.Contains("\"EventId\":3501", lines[0]);
            Assert.Matches($@"Admin write by 127\.0\.0\.1:\d+: PUT routes/b, revision {revision.Trim('"')} to {next}, outcome applied", lines[0]);
            Assert.Contains("\"EventId\":3502", lines[1]);
            Assert.Matches($@"refused: PUT routes/c, revision {next} to -, outcome conflict", lines[1]);
            Assert.Matches(@"refused: PUT routes/d, revision \w+ to -, outcome unauthorized", lines[2]);
            Assert.DoesNotContain(Token, process.Output);
            Assert.DoesNotContain("wrong-token-0123456789", process.Output);
        });
    }

    private static HttpRequestMessage Authorized(HttpRequestMessage request, string token = Token)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private static HttpRequestMessage Write(string path, string etag, string token)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, path) { Content = new StringContent("""{"match":{"pathPrefix":"/x"},"cluster":"a"}""", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("If-Match", etag);
        return Authorized(request, token);
    }
}
