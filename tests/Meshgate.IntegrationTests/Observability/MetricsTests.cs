using System.Net;
using System.Net.Http.Headers;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Observability;

/// <summary>GET /metrics on the admin listener, scraped over HTTP and parsed as Prometheus would read it.</summary>
public sealed class MetricsTests
{
    private const string Duration = "http_server_request_duration_seconds";

    /// <summary>Scrapes until the condition holds: ASP.NET Core records a request's duration only after the client has its answer.</summary>
    private static async Task<PrometheusScrape> ScrapeWhenAsync(TestGateway gateway, Func<PrometheusScrape, bool> condition, string because)
    {
        PrometheusScrape? scrape = null;
        await Eventually.HoldsAsync(async () => condition(scrape = await PrometheusScrape.GetAsync(gateway.Admin)), TimeSpan.FromSeconds(10), because);
        return scrape!;
    }

    [Fact]
    public async Task KnownMixOfRequests_CountsAndHistogramBuckets_PerRouteAndCluster()
    {
        await using var ok = await TestUpstream.StartAsync(app => app.Run(async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            await context.Response.WriteAsync("hello");
        }));
        await using var failing = await TestUpstream.StartAsync(app => app.Run(async context =>
        {
            await Task.Delay(300);
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("down");
        }));
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: a, match: { path: "/a/{**rest}" }, cluster: ok }
              - { id: b, match: { path: /b }, cluster: failing }
            clusters:
              - { id: ok, endpoints: ["{{ok.Endpoint}}"] }
              - { id: failing, endpoints: ["{{failing.Endpoint}}"] }
            """);

        for (var i = 0; i < 7; i++)
        {
            using var response = await gateway.Client.GetAsync($"/a/item{i}?token=s3cr3t{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using (var upload = await gateway.Client.PostAsync("/a/upload", new ByteArrayContent(new byte[3000])))
        {
            Assert.Equal(HttpStatusCode.OK, upload.StatusCode);
        }
        for (var i = 0; i < 3; i++)
        {
            using var response = await gateway.Client.GetAsync("/b");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }
        using (var none = await gateway.Client.GetAsync("/nope/secret-path"))
        {
            Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
        }

        var scrape = await ScrapeWhenAsync(gateway, s => s.Sum(Duration + "_count") >= 12, "all 12 requests recorded");
        (string, string?)[] getA = [("meshgate_route", "a"), ("meshgate_cluster", "ok"), ("http_request_method", "GET"), ("http_response_status_code", "200")];
        (string, string?)[] getB = [("meshgate_route", "b"), ("meshgate_cluster", "failing"), ("http_request_method", "GET"), ("http_response_status_code", "503")];

        // ASP.NET Core's own request metric, labelled with our route and cluster; YARP's route pattern, never the path.
        Assert.Equal(12, scrape.Sum(Duration + "_count"));
        Assert.Equal(7, scrape.Single(Duration + "_count", [.. getA, ("http_route", "/a/{**rest}")]));
        Assert.Equal(1, scrape.Single(Duration + "_count", ("meshgate_route", "a"), ("http_request_method", "POST")));
        Assert.Equal(3, scrape.Single(Duration + "_count", getB));
        Assert.Equal(1, scrape.Single(Duration + "_count", ("http_response_status_code", "404"), ("meshgate_route", null), ("http_route", null)));

        // Buckets: cumulative, ending at the count; the 300 ms upstream puts route b above 0.25 s.
        AssertCumulative(scrape, Duration, getA, 7);
        AssertCumulative(scrape, Duration, getB, 3);
        Assert.Equal(0, scrape.Single(Duration + "_bucket", [.. getB, ("le", "0.25")]));

        // Upstream attempts, per route and cluster with the upstream's status.
        const string Upstream = "meshgate_upstream_duration_seconds";
        // Route a: the seven GETs and the upload.
        Assert.Equal(8, scrape.Single(Upstream + "_count", ("route", "a"), ("cluster", "ok"), ("http_response_status_code", "200")));
        Assert.Equal(3, scrape.Single(Upstream + "_count", ("route", "b"), ("cluster", "failing"), ("http_response_status_code", "503")));
        Assert.Equal(0, scrape.Single(Upstream + "_bucket", ("route", "b"), ("le", "0.25")));
        AssertCumulative(scrape, Upstream, [("route", "b")], 3);

        // Body sizes in bytes: "hello" seven times; one 3000-byte upload.
        const string ResponseSize = "http_server_response_body_size_bytes";
        const string RequestSize = "http_server_request_body_size_bytes";
        Assert.Equal(35, scrape.Single(ResponseSize + "_sum", ("meshgate_route", "a"), ("http_request_method", "GET")));
        Assert.Equal(7, scrape.Single(ResponseSize + "_bucket", ("meshgate_route", "a"), ("http_request_method", "GET"), ("le", "256")));
        Assert.Equal(0, scrape.Single(ResponseSize + "_bucket", ("meshgate_route", "a"), ("http_request_method", "GET"), ("le", "0")));
        Assert.Equal(3000, scrape.Single(RequestSize + "_sum", ("meshgate_route", "a"), ("http_request_method", "POST")));
        Assert.Equal(0, scrape.Single(RequestSize + "_bucket", ("meshgate_route", "a"), ("http_request_method", "POST"), ("le", "1024")));
        Assert.Equal(1, scrape.Single(RequestSize + "_bucket", ("meshgate_route", "a"), ("http_request_method", "POST"), ("le", "4096")));
        Assert.Equal(1, scrape.Single(RequestSize + "_count", ("meshgate_route", "a"), ("http_request_method", "POST")));
        // The GETs sent no body: they have response sizes (above) and no request size.
        Assert.Empty(scrape.Find(RequestSize + "_count", ("meshgate_route", "a"), ("http_request_method", "GET")));

        // Connections and requests in flight come from Kestrel and ASP.NET Core, for the gateway's listener only.
        Assert.NotEmpty(scrape.Find("kestrel_active_connections", ("server_port", gateway.Url.Port.ToString())));
        Assert.Empty(scrape.Find("kestrel_active_connections", ("server_port", gateway.Admin.BaseAddress!.Port.ToString())));
        Assert.Equal(0, scrape.Single("http_server_active_requests", ("http_request_method", "GET"), ("url_scheme", "http")));

        // Bounded labels: no path, query, token or admin request reaches a label.
        foreach (var sample in scrape.Samples)
        {
            foreach (var (label, value) in sample.Labels)
            {
                Assert.DoesNotContain("s3cr3t", value);
                Assert.DoesNotContain("item", value);
                Assert.DoesNotContain("secret-path", value);
                Assert.DoesNotContain("/metrics", value);
                Assert.DoesNotContain("client", label);
            }
        }
    }

    [Fact]
    public async Task RequestsInFlight_CountedByMethodAndScheme_BackToZeroWhenAnswered()
    {
        await using var upstream = await HeldUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: a, match: { path: "/{**rest}" }, cluster: a }
            clusters:
              - { id: a, endpoints: ["{{upstream.Endpoint}}"] }
            """);

        var gets = Enumerable.Range(0, 3).Select(i => gateway.Client.GetAsync($"/held/{i}")).ToList();
        var purge = gateway.Client.SendAsync(new HttpRequestMessage(new HttpMethod("PURGE"), "/held/purge"));
        await upstream.WaitForArrivalsAsync(4, "all four requests reached the upstream");

        var during = await PrometheusScrape.GetAsync(gateway.Admin);
        Assert.Equal(3, during.Single("http_server_active_requests", ("http_request_method", "GET"), ("url_scheme", "http")));
        // A method outside the known set is one label value for all of them, so a client cannot add series.
        Assert.Equal(1, during.Single("http_server_active_requests", ("http_request_method", "_OTHER"), ("url_scheme", "http")));

        upstream.Release();
        foreach (var response in await Task.WhenAll([.. gets, purge]))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
        var after = await ScrapeWhenAsync(gateway, s => s.Sum("http_server_active_requests") == 0, "the answered requests leave the count");
        Assert.Equal(0, after.Single("http_server_active_requests", ("http_request_method", "GET"), ("url_scheme", "http")));
        Assert.Empty(after.Find("http_server_active_requests", ("http_request_method", "POST")));
    }

    [Fact]
    public async Task TrafficSplit_CountsEachRequestForTheClusterItWentTo()
    {
        await using var stable = await TestUpstream.NamedAsync("stable");
        await using var canary = await TestUpstream.NamedAsync("canary");
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - id: orders
                match: { path: /orders }
                split: [ { cluster: stable, weight: 1 }, { cluster: canary, weight: 1 } ]
            clusters:
              - { id: stable, endpoints: ["{{stable.Endpoint}}"] }
              - { id: canary, endpoints: ["{{canary.Endpoint}}"] }
            """);

        var answeredBy = new Dictionary<string, int> { ["stable"] = 0, ["canary"] = 0 };
        for (var i = 0; i < 30; i++) answeredBy[await gateway.UpstreamForAsync("/orders")]++;

        var scrape = await ScrapeWhenAsync(gateway, s => s.Sum(Duration + "_count", ("meshgate_route", "orders")) >= 30, "all 30 requests recorded");
        Assert.Equal(answeredBy["stable"], scrape.Sum(Duration + "_count", ("meshgate_route", "orders"), ("meshgate_cluster", "stable")));
        Assert.Equal(answeredBy["canary"], scrape.Sum(Duration + "_count", ("meshgate_route", "orders"), ("meshgate_cluster", "canary")));
        Assert.Equal(answeredBy["canary"], scrape.Sum("meshgate_upstream_duration_seconds_count", ("route", "orders"), ("cluster", "canary")));
    }

    [Fact]
    public async Task Reloads_CountSuccessesAndFailures_AndTheTimeOfTheLastSuccess()
    {
        await using var upstream = await TestUpstream.NamedAsync("one");
        var config = $$"""
            routes:
              - { id: r, match: { path: /r }, cluster: c }
            clusters:
              - { id: c, endpoints: ["{{upstream.Endpoint}}"] }
            """;
        await using var gateway = await TestGateway.StartAsync(config);
        var started = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var scrape = await PrometheusScrape.GetAsync(gateway.Admin);
        Assert.Equal(0, scrape.Single("meshgate_config_reloads_total"));
        Assert.Equal(0, scrape.Single("meshgate_config_reload_failures_total"));
        var firstLoad = scrape.Single("meshgate_config_last_reload_success_time_seconds");
        Assert.InRange(firstLoad, started - 60, started + 1);

        // An invalid file: rejected (by the file watcher, by POST /admin/reload, whichever comes first), counted as a failure.
        await gateway.RewriteConfigAsync(config.Replace("cluster: c", "cluster: missing"));
        using (var rejected = await gateway.Admin.PostAsync("/admin/reload", null))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, rejected.StatusCode);
        }
        scrape = await PrometheusScrape.GetAsync(gateway.Admin);
        Assert.True(scrape.Single("meshgate_config_reload_failures_total") >= 1);
        Assert.Equal(0, scrape.Single("meshgate_config_reloads_total"));
        Assert.Equal(firstLoad, scrape.Single("meshgate_config_last_reload_success_time_seconds"));

        await Task.Delay(1100);   // the gauge has whole seconds: a later success must show a later time
        await gateway.RewriteConfigAsync(config.Replace("id: r,", "id: renamed,"));
        using (var accepted = await gateway.Admin.PostAsync("/admin/reload", null))
        {
            Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        }
        scrape = await PrometheusScrape.GetAsync(gateway.Admin);
        Assert.True(scrape.Single("meshgate_config_reloads_total") >= 1);
        Assert.True(scrape.Single("meshgate_config_last_reload_success_time_seconds") > firstLoad);
    }

    [Fact]
    public async Task PolicySteps_CountAuthenticationFailuresRetriesAndShowHealthAndCircuitState()
    {
        await using var live = await TestUpstream.StartAsync(app =>
        {
            app.MapGet("/healthz", () => "ok");
            app.Run(context => context.Response.WriteAsync("live"));
        });
        var deadUpstream = await TestUpstream.StartAsync(app => app.Run(_ => Task.CompletedTask));
        var dead = deadUpstream.Endpoint;
        await deadUpstream.DisposeAsync();   // a closed port: every connect is refused

        await using var gateway = await TestGateway.StartAsync($$"""
            resilience:
              retrying: { retries: { attempts: 2, on: [connect-failure], backoff: { base: 1ms, max: 2ms } } }
            authentication:
              keys: { apiKeys: { header: x-api-key, consumers: { mobile: { keys: [{{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("good-key"u8))}}] } } } }
            routes:
              - { id: app, match: { path: "/app/{**rest}" }, cluster: pair, resilience: retrying }
              - { id: keyed, match: { path: /keyed }, cluster: checked, auth: [keys] }
            clusters:
              - { id: pair, loadBalancing: round-robin, endpoints: ["{{dead}}", "{{live.Endpoint}}"] }
              - id: checked
                endpoints: ["{{live.Endpoint}}"]
                healthCheck: { path: /healthz, interval: 200ms, timeout: 2s, unhealthyThreshold: 1, healthyThreshold: 1 }
                circuitBreaker: { maxConcurrentRequests: 5 }
            """);

        for (var i = 0; i < 4; i++)
        {
            using var response = await gateway.Client.GetAsync("/app/x");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using (var missing = await gateway.Client.GetAsync("/keyed"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        }
        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/keyed");
            request.Headers.Add("x-api-key", "wrong-key-" + i);
            using var wrong = await gateway.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/keyed"))
        {
            request.Headers.Add("x-api-key", "good-key");
            using var good = await gateway.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        }

        var scrape = await ScrapeWhenAsync(gateway, s => s.Single("meshgate_endpoint_health", ("cluster", "checked"), ("state", "healthy")) == 1,
            "the active health check marks the endpoint healthy");

        // Round-robin sends every other first try to the closed port: two of the four requests retried once.
        Assert.Equal(2, scrape.Single("meshgate_resilience_retries_total", ("route", "app"), ("cluster", "pair")));
        Assert.Equal(1, scrape.Single("meshgate_authentication_failures_total", ("route", "keyed"), ("reason", "missing-credentials")));
        Assert.Equal(2, scrape.Single("meshgate_authentication_failures_total", ("route", "keyed"), ("reason", "invalid-credentials")));
        // Refused before forwarding: counted for the route's cluster.
        Assert.Equal(3, scrape.Single(Duration + "_count", ("meshgate_route", "keyed"), ("meshgate_cluster", "checked"), ("http_response_status_code", "401")));

        // One series per endpoint and state; no health check on "pair": its endpoints are unknown.
        Assert.Equal(0, scrape.Single("meshgate_endpoint_health", ("cluster", "checked"), ("state", "unhealthy")));
        Assert.Equal(0, scrape.Single("meshgate_endpoint_health", ("cluster", "checked"), ("state", "unknown")));
        Assert.Equal(2, scrape.Sum("meshgate_endpoint_health", ("cluster", "pair"), ("state", "unknown")));
        Assert.Equal(0, scrape.Single("meshgate_circuit_breaking_open", ("cluster", "checked")));
        Assert.Equal(0, scrape.Single("meshgate_circuit_breaking_active_requests", ("cluster", "checked")));
        Assert.Empty(scrape.Find("meshgate_circuit_breaking_open", ("cluster", "pair")));
        // The token text never becomes a label.
        Assert.DoesNotContain("wrong-key", scrape.Text);
    }

    [Fact]
    public async Task Scrape_PassesPromtoolCheckMetrics()
    {
        await using var ok = await TestUpstream.NamedAsync("ok");
        await using var gateway = await TestGateway.StartAsync($$"""
            accessLog: { output: access.log }
            routes:
              - { id: a, match: { path: "/a/{**rest}" }, cluster: ok }
            clusters:
              - id: ok
                endpoints: ["{{ok.Endpoint}}"]
                circuitBreaker: { maxConcurrentRequests: 100 }
            """);
        for (var i = 0; i < 5; i++)
        {
            using var response = await gateway.Client.PostAsync($"/a/{i}", new StringContent("body"));
        }
        using (await gateway.Client.GetAsync("/missing")) { }
        await gateway.Admin.PostAsync("/admin/reload", null);
        var scrape = await ScrapeWhenAsync(gateway, s => s.Sum(Duration + "_count") >= 6, "the requests recorded");
        Assert.Contains("# TYPE http_server_request_duration_seconds histogram", scrape.Text);

        var (exitCode, output) = await Promtool.CheckMetricsAsync(scrape.Text);
        Assert.True(exitCode == 0, $"promtool check metrics exited {exitCode}:\n{output}\n--- scrape ---\n{scrape.Text}");
    }

    [Fact]
    public async Task Metrics_NeedTheAdminTokenWhenOneIsSet()
    {
        await using var gateway = await TestGateway.StartAsync("""
            admin: { address: 127.0.0.1:0, token: scrape-secret-0123456789 }
            """);
        using (var anonymous = await gateway.Admin.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }
        gateway.Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "scrape-secret-0123456789");
        using var scraped = await gateway.Admin.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, scraped.StatusCode);
        Assert.StartsWith("text/plain", scraped.Content.Headers.ContentType!.ToString());
        Assert.Contains("meshgate_config_reloads_total", await scraped.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task MetricsOff_NoEndpoint_AndRequestsStillServed()
    {
        await using var upstream = await TestUpstream.NamedAsync("one");
        await using var gateway = await TestGateway.StartAsync($$"""
            metrics: { enabled: false }
            routes:
              - { id: r, match: { path: /r }, cluster: c }
            clusters:
              - { id: c, endpoints: ["{{upstream.Endpoint}}"] }
            """);
        Assert.Equal("one", await gateway.UpstreamForAsync("/r"));
        using var response = await gateway.Admin.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("metrics.enabled", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task CardinalityLimit_CombinationsPastIt_CountedInTheOverflowSeries_TotalsStayRight()
    {
        await using var upstream = await TestUpstream.NamedAsync("one");
        // Two series per metric. Requests: by route and method, a's GET and POST fit and b's, c's and the 404's overflow;
        // upstream attempts are by route (and status), so a's and b's fit and c's overflow.
        await using var gateway = await TestGateway.StartAsync($$"""
            metrics: { cardinalityLimit: 2 }
            routes:
              - { id: a, match: { pathPrefix: /a }, cluster: c }
              - { id: b, match: { pathPrefix: /b }, cluster: c }
              - { id: c, match: { pathPrefix: /c }, cluster: c }
            clusters:
              - { id: c, endpoints: ["{{upstream.Endpoint}}"] }
            """);
        for (var i = 0; i < 3; i++)
        {
            using var get = await gateway.Client.GetAsync("/a");
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }
        using (var post = await gateway.Client.PostAsync("/a", new ByteArrayContent([1, 2, 3])))
        {
            Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        }
        for (var i = 0; i < 4; i++)
        {
            using var b = await gateway.Client.GetAsync("/b");
            Assert.Equal(HttpStatusCode.OK, b.StatusCode);
        }
        for (var i = 0; i < 2; i++)
        {
            using var c = await gateway.Client.GetAsync("/c");
            Assert.Equal(HttpStatusCode.OK, c.StatusCode);
        }
        using (var none = await gateway.Client.GetAsync("/nope"))
        {
            Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
        }

        var scrape = await ScrapeWhenAsync(gateway, s => s.Sum(Duration + "_count") >= 11, "all 11 requests recorded");
        // The combinations within the limit keep their labels and counts; the rest are in the overflow series, so the total is right.
        Assert.Equal(11, scrape.Sum(Duration + "_count"));
        Assert.Equal(3, scrape.Single(Duration + "_count", ("meshgate_route", "a"), ("http_request_method", "GET")));
        Assert.Equal(1, scrape.Single(Duration + "_count", ("meshgate_route", "a"), ("http_request_method", "POST")));
        Assert.Empty(scrape.Find(Duration + "_count", ("meshgate_route", "b")));
        Assert.Equal(7, scrape.Single(Duration + "_count", ("otel_metric_overflow", "true")));
        AssertCumulative(scrape, Duration, [("otel_metric_overflow", "true")], 7);
        // Every metric has the limit, ours too.
        const string Upstream = "meshgate_upstream_duration_seconds";
        Assert.Equal(10, scrape.Sum(Upstream + "_count"));
        Assert.Equal(4, scrape.Single(Upstream + "_count", ("route", "a")));
        Assert.Equal(4, scrape.Single(Upstream + "_count", ("route", "b")));
        Assert.Empty(scrape.Find(Upstream + "_count", ("route", "c")));
        Assert.Equal(2, scrape.Single(Upstream + "_count", ("otel_metric_overflow", "true")));
    }

    private static void AssertCumulative(PrometheusScrape scrape, string histogram, (string, string?)[] labels, double count)
    {
        var buckets = scrape.Find(histogram + "_bucket", labels).ToList();
        Assert.NotEmpty(buckets);
        var ordered = buckets.OrderBy(b => b.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(b.Labels["le"], System.Globalization.CultureInfo.InvariantCulture))
            .Select(b => b.Value).ToList();
        for (var i = 1; i < ordered.Count; i++) Assert.True(ordered[i] >= ordered[i - 1], $"{histogram} buckets must not decrease: {string.Join(", ", ordered)}");
        Assert.Equal(count, ordered[^1]);
        Assert.Equal(count, scrape.Sum(histogram + "_count", labels));
    }
}
