using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Meshgate.Configuration;
using Meshgate.Roles.Edge;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Admin;

/// <summary>PUT and DELETE of routes, clusters and policies through the admin API, against a real gateway and real upstreams.</summary>
public sealed class AdminWriteTests : IAsyncLifetime
{
    private const string Token = "s3cret-admin-token-0123456789";
    private TestUpstream _a = null!;
    private TestUpstream _b = null!;
    private TestGateway _gateway = null!;

    private string Config => $$"""
        admin:
          address: 127.0.0.1:0
          token: {{Token}}
        routes:
          - id: a
            match: { pathPrefix: /a }
            cluster: a
        clusters:
          - id: a
            endpoints: ["{{_a.Endpoint}}"]
          - id: b
            endpoints: ["{{_b.Endpoint}}"]
        """;

    public async Task InitializeAsync()
    {
        _a = await TestUpstream.NamedAsync("A");
        _b = await TestUpstream.NamedAsync("B");
        _gateway = await TestGateway.StartAsync(Config);
        _gateway.Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Fact]
    public async Task PutRoute_TrafficReachesItsCluster_AndGetReturnsIt()
    {
        Assert.Equal("status 404", await _gateway.UpstreamForAsync("/b/1"));
        var revision = await RevisionAsync();

        using var put = await SendAsync(HttpMethod.Put, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", revision);

        Assert.True(put.StatusCode == HttpStatusCode.Created, await put.Content.ReadAsStringAsync());
        var body = await JsonAsync(put);
        Assert.Equal(revision, body.GetProperty("previousRevision").GetString());
        var next = body.GetProperty("revision").GetString()!;
        Assert.NotEqual(revision, next);
        Assert.Equal($"\"{next}\"", put.Headers.ETag!.Tag);
        Assert.Equal("B", await _gateway.UpstreamForAsync("/b/1"));
        Assert.Equal("A", await _gateway.UpstreamForAsync("/a/1"));

        using var get = await _gateway.Admin.GetAsync("/admin/routes/b");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal($"\"{next}\"", get.Headers.ETag!.Tag);
        var route = await JsonAsync(get);
        Assert.Equal(("b", "/b", "b"), (route.GetProperty("id").GetString(), route.GetProperty("match").GetProperty("pathPrefix").GetString(), route.GetProperty("cluster").GetString()));
        Assert.Equal(2, await _gateway.GenerationAsync());
    }

    [Fact]
    public async Task PutRoute_Existing_ReplacesIt200()
    {
        using var put = await SendAsync(HttpMethod.Put, "/admin/routes/a", """{"id":"a","match":{"pathPrefix":"/a"},"cluster":"b"}""", await RevisionAsync());

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("B", await _gateway.UpstreamForAsync("/a/1"));
    }

    [Fact]
    public async Task DeleteRoute_ThenItsPathIs404()
    {
        Assert.Equal("A", await _gateway.UpstreamForAsync("/a/1"));

        using var delete = await SendAsync(HttpMethod.Delete, "/admin/routes/a", null, await RevisionAsync());

        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        Assert.Equal("status 404", await _gateway.UpstreamForAsync("/a/1"));
        using var get = await _gateway.Admin.GetAsync("/admin/routes/a");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        using var again = await SendAsync(HttpMethod.Delete, "/admin/routes/a", null, await RevisionAsync());
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task PutCluster_ChangesItsEndpoints()
    {
        Assert.Equal("A", await _gateway.UpstreamForAsync("/a/1"));

        using var put = await SendAsync(HttpMethod.Put, "/admin/clusters/a", $$"""{"endpoints":["{{_b.Endpoint}}"]}""", await RevisionAsync());

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("B", await _gateway.UpstreamForAsync("/a/1"));
        var cluster = await JsonAsync(await _gateway.Admin.GetAsync("/admin/clusters/a"));
        Assert.Equal(_b.Endpoint, cluster.GetProperty("endpoints")[0].GetProperty("url").GetString());
    }

    [Fact]
    public async Task InvalidWrite_400WithEveryErrorRelativeToTheObject_NothingChanged()
    {
        var revision = await RevisionAsync();
        var file = await File.ReadAllTextAsync(_gateway.ConfigPath);

        using var put = await SendAsync(HttpMethod.Put, "/admin/routes/a", """{"match":{"pathPrefix":"nope","methods":["FETCH"]},"cluster":"ghost"}""", revision);

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Equal("application/problem+json", put.Content.Headers.ContentType!.MediaType);
        var problem = await JsonAsync(put);
        var errors = problem.GetProperty("errors");
        Assert.Contains("must start with '/'", errors.GetProperty("match.pathPrefix")[0].GetString());
        Assert.Contains("'FETCH' is not an HTTP method", errors.GetProperty("match.methods[0]")[0].GetString());
        Assert.Contains("unknown cluster 'ghost'", errors.GetProperty("cluster")[0].GetString());
        Assert.Equal(revision, problem.GetProperty("revision").GetString());
        Assert.Equal(revision, await RevisionAsync());
        Assert.Equal("A", await _gateway.UpstreamForAsync("/a/1"));
        Assert.Equal(file, await File.ReadAllTextAsync(_gateway.ConfigPath));
    }

    [Theory]
    [InlineData("""{"match":{"pathPrefix":"/a"},"cluster":"a","ordr":1}""", "ordr", "unknown key 'ordr' (did you mean 'order'?)")]
    [InlineData("""{"id":"other","match":{"pathPrefix":"/a"},"cluster":"a"}""", "id", "'other' is not the route id in the URL ('a')")]
    [InlineData("""{"match":{"pathPrefix":"/a"},"cluster":"a","order":"first"}""", "order", "expected a whole number, found 'first'")]
    public async Task PutRoute_BodyNotARoute_400WithThePath(string body, string path, string message)
    {
        using var put = await SendAsync(HttpMethod.Put, "/admin/routes/a", body, await RevisionAsync());

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains(message, (await JsonAsync(put)).GetProperty("errors").GetProperty(path)[0].GetString());
    }

    [Fact]
    public async Task PutRoute_BodyNotJson_400()
    {
        using var put = await SendAsync(HttpMethod.Put, "/admin/routes/a", "id: a", await RevisionAsync());

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Equal("Body is not JSON", (await JsonAsync(put)).GetProperty("title").GetString());
    }

    [Fact]
    public async Task DeleteCluster_StillUsedByARoute_400NamingTheRoute()
    {
        using var delete = await SendAsync(HttpMethod.Delete, "/admin/clusters/a", null, await RevisionAsync());

        Assert.Equal(HttpStatusCode.BadRequest, delete.StatusCode);
        Assert.Contains("unknown cluster 'a'", (await JsonAsync(delete)).GetProperty("errors").GetProperty("routes[a].cluster")[0].GetString());
        Assert.Equal("A", await _gateway.UpstreamForAsync("/a/1"));

        using var unused = await SendAsync(HttpMethod.Delete, "/admin/clusters/b", null, await RevisionAsync());
        Assert.Equal(HttpStatusCode.OK, unused.StatusCode);
    }

    [Fact]
    public async Task Write_WithoutIfMatch_428ProblemWithTheRevision()
    {
        var revision = await RevisionAsync();

        using var put = await SendAsync(HttpMethod.Put, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", null);

        Assert.Equal(HttpStatusCode.PreconditionRequired, put.StatusCode);
        Assert.Equal("application/problem+json", put.Content.Headers.ContentType!.MediaType);
        var problem = await JsonAsync(put);
        Assert.Contains("If-Match", problem.GetProperty("detail").GetString());
        Assert.Equal(revision, problem.GetProperty("revision").GetString());
        Assert.Equal("status 404", await _gateway.UpstreamForAsync("/b/1"));
    }

    [Fact]
    public async Task Write_WithStaleRevision_409WithTheCurrentOne()
    {
        var stale = await RevisionAsync();
        using (var first = await SendAsync(HttpMethod.Put, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", stale)) Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var current = await RevisionAsync();

        using var second = await SendAsync(HttpMethod.Delete, "/admin/routes/a", null, stale);

        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Equal("application/problem+json", second.Content.Headers.ContentType!.MediaType);
        Assert.Equal(current, (await JsonAsync(second)).GetProperty("revision").GetString());
        Assert.Equal($"\"{current}\"", second.Headers.ETag!.Tag);
        Assert.Equal("A", await _gateway.UpstreamForAsync("/a/1"));
    }

    [Fact]
    public async Task ConcurrentWrites_WithTheSameRevision_ExactlyOneWins()
    {
        for (var round = 0; round < 5; round++)
        {
            var revision = await RevisionAsync();
            var writes = await Task.WhenAll(
                SendAsync(HttpMethod.Put, $"/admin/routes/x{round}", $$"""{"match":{"pathPrefix":"/x{{round}}"},"cluster":"a"}""", revision),
                SendAsync(HttpMethod.Put, $"/admin/routes/y{round}", $$"""{"match":{"pathPrefix":"/y{{round}}"},"cluster":"b"}""", revision));

            Assert.Equal([HttpStatusCode.Created, HttpStatusCode.Conflict], writes.Select(w => w.StatusCode).Order());
            var won = writes[0].StatusCode == HttpStatusCode.Created ? ($"/x{round}/1", "A", $"/y{round}/1") : ($"/y{round}/1", "B", $"/x{round}/1");
            Assert.Equal(won.Item2, await _gateway.UpstreamForAsync(won.Item1));
            Assert.Equal("status 404", await _gateway.UpstreamForAsync(won.Item3));
            foreach (var write in writes) write.Dispose();
        }
    }

    [Fact]
    public async Task Write_IsPersistedToTheFile_NotReappliedByTheWatcher_AndKeptOnRestart()
    {
        using (var put = await SendAsync(HttpMethod.Put, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", await RevisionAsync()))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }
        var revision = await RevisionAsync();
        var file = await File.ReadAllTextAsync(_gateway.ConfigPath);
        Assert.StartsWith(Configuration.Parsing.ConfigWriter.Header, file);
        Assert.Contains("pathPrefix: /b", file);
        Assert.Contains(Token, file); // the file keeps the secret that GET /admin/config redacts
        Assert.Equal(revision, ConfigLoader.LoadFile(_gateway.ConfigPath).Snapshot!.Version);

        // The watcher sees the rename; the file holds the running config, so nothing is applied again.
        await Task.Delay(1000);
        Assert.Equal(2, await _gateway.GenerationAsync());

        await _gateway.Host.StopAsync();
        var result = ConfigLoader.LoadFile(_gateway.ConfigPath);
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        await using var restarted = GatewayHost.Create(result.Snapshot!, () => ConfigLoader.LoadFile(_gateway.ConfigPath));
        await restarted.StartAsync();
        using var client = new HttpClient { BaseAddress = restarted.ListenerUrls[0].Url };
        using var response = await client.GetAsync("/b/1");
        Assert.Equal("B", response.Headers.GetValues("x-upstream").Single());
        await restarted.StopAsync();
    }

    [Fact]
    public async Task Write_AfterTheFileWasEditedButNotApplied_409SaysSo()
    {
        var revision = await RevisionAsync();
        await File.AppendAllTextAsync(_gateway.ConfigPath, "\nroutes: oops\n"); // invalid: the reload is rejected, the file differs from what runs
        await Eventually.HoldsAsync(async () => !(await StatusAsync()).GetProperty("lastAttemptSucceeded").GetBoolean(), TimeSpan.FromSeconds(10), "the edit is read and rejected");

        using var put = await SendAsync(HttpMethod.Put, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", revision);

        Assert.Equal(HttpStatusCode.Conflict, put.StatusCode);
        Assert.Contains("changed outside the admin API", (await JsonAsync(put)).GetProperty("detail").GetString());
        Assert.EndsWith("routes: oops\n", await File.ReadAllTextAsync(_gateway.ConfigPath));
    }

    [Fact]
    public async Task Policies_PutGetUseAndDelete()
    {
        using (var put = await SendAsync(HttpMethod.Put, "/admin/policies/cors/web", """{"origins":["https://app.example.com"]}""", await RevisionAsync()))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }
        var cors = await JsonAsync(await _gateway.Admin.GetAsync("/admin/policies/cors/web"));
        Assert.Equal("https://app.example.com", cors.GetProperty("origins")[0].GetString());
        Assert.True((await JsonAsync(await _gateway.Admin.GetAsync("/admin/policies/cors"))).TryGetProperty("web", out _));

        using (var route = await SendAsync(HttpMethod.Put, "/admin/routes/a", """{"match":{"pathPrefix":"/a"},"cluster":"a","cors":"web"}""", await RevisionAsync()))
        {
            Assert.Equal(HttpStatusCode.OK, route.StatusCode);
        }
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/a/1");
        preflight.Headers.Add("Origin", "https://app.example.com");
        preflight.Headers.Add("Access-Control-Request-Method", "GET");
        using var answer = await _gateway.Client.SendAsync(preflight);
        Assert.Equal("https://app.example.com", answer.Headers.GetValues("Access-Control-Allow-Origin").Single());

        using var stillUsed = await SendAsync(HttpMethod.Delete, "/admin/policies/cors/web", null, await RevisionAsync());
        Assert.Equal(HttpStatusCode.BadRequest, stillUsed.StatusCode);
        Assert.True((await JsonAsync(stillUsed)).GetProperty("errors").TryGetProperty("routes[a].cors", out _));

        using var unknown = await SendAsync(HttpMethod.Put, "/admin/policies/colours/x", "{}", await RevisionAsync());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task InvalidPolicy_400WithPathsRelativeToThePolicy()
    {
        using var put = await SendAsync(HttpMethod.Put, "/admin/policies/rateLimits/tight", """{"algorithm":"fixed-window","limit":0}""", await RevisionAsync());

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        var errors = (await JsonAsync(put)).GetProperty("errors");
        Assert.Contains("must be at least 1", errors.GetProperty("limit")[0].GetString());
        Assert.Contains("required for this algorithm", errors.GetProperty("window")[0].GetString());
    }

    [Fact]
    public async Task Get_ShowsNoSecrets()
    {
        using var put = await SendAsync(HttpMethod.Put, "/admin/routes/b", """{"match":{"pathPrefix":"/b"},"cluster":"b"}""", await RevisionAsync());
        using var config = await _gateway.Admin.GetAsync("/admin/config");

        var text = await config.Content.ReadAsStringAsync();
        Assert.DoesNotContain(Token, text);
        Assert.Equal("[redacted]", JsonDocument.Parse(text).RootElement.GetProperty("admin").GetProperty("token").GetString());
        Assert.Equal($"\"{await RevisionAsync()}\"", config.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task Write_WithWrongToken_401AndNothingChanged()
    {
        using var anonymous = new HttpClient { BaseAddress = _gateway.Host.AdminUrl };
        using var request = new HttpRequestMessage(HttpMethod.Delete, "/admin/routes/a");
        request.Headers.TryAddWithoutValidation("If-Match", $"\"{await RevisionAsync()}\"");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token-at-all");

        using var response = await anonymous.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("A", await _gateway.UpstreamForAsync("/a/1"));
    }

    [Fact]
    public async Task Write_WithoutAConfiguredToken_403SaysToSetOne()
    {
        await using var open = await TestGateway.StartAsync($$"""
            routes:
              - id: a
                match: { pathPrefix: /a }
                cluster: a
            clusters:
              - id: a
                endpoints: ["{{_a.Endpoint}}"]
            """);
        using var status = await open.Admin.GetAsync("/admin/config/status");
        using var request = new HttpRequestMessage(HttpMethod.Delete, "/admin/routes/a");
        request.Headers.TryAddWithoutValidation("If-Match", status.Headers.ETag!.Tag);

        using var response = await open.Admin.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("admin.token", (await JsonAsync(response)).GetProperty("detail").GetString());
        Assert.Equal("A", await open.UpstreamForAsync("/a/1"));
        // Reads stay open without a token, as before.
        using var get = await open.Admin.GetAsync("/admin/routes/a");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
    }

    [Fact]
    public async Task ConfigWithoutAFile_WritesAreKeptInMemory()
    {
        var result = ConfigLoader.Load(TestGateway.WithDefaults(Config), null, TempDirectory.Create());
        await using var host = GatewayHost.Create(result.Snapshot!, () => result);
        await host.StartAsync();
        using var admin = new HttpClient { BaseAddress = host.AdminUrl };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var client = new HttpClient { BaseAddress = host.ListenerUrls[0].Url };
        using var status = await admin.GetAsync("/admin/config/status");
        using var request = new HttpRequestMessage(HttpMethod.Put, "/admin/routes/b") { Content = new StringContent("""{"match":{"pathPrefix":"/b"},"cluster":"b"}""", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("If-Match", status.Headers.ETag!.Tag);

        using var put = await admin.SendAsync(request);

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        using var response = await client.GetAsync("/b/1");
        Assert.Equal("B", response.Headers.GetValues("x-upstream").Single());
        await host.StopAsync();
    }

    private async Task<string> RevisionAsync()
    {
        using var response = await _gateway.Admin.GetAsync("/admin/config/status");
        var revision = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("revision").GetString()!;
        Assert.Equal($"\"{revision}\"", response.Headers.ETag!.Tag);
        return revision;
    }

    private async Task<JsonElement> StatusAsync() => JsonDocument.Parse(await _gateway.Admin.GetStringAsync("/admin/config/status")).RootElement;

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? json, string? revision)
    {
        var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (revision is not null) request.Headers.TryAddWithoutValidation("If-Match", $"\"{revision}\"");
        return _gateway.Admin.SendAsync(request);
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response) => JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
}
