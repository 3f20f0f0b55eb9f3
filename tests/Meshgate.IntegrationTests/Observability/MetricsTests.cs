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
        Assert.Equal(8, scrape.Single(Upstream + "_count", ("meshgate_route", "a"), ("meshgate_cluster", "ok"), ("http_response_status_code", "200")));
        Assert.Equal(3, scrape.Single(Upstream + "_count", ("meshgate_route", "b"), ("meshgate_cluster", "failing"), ("http_response_status_code", "503")));
        Assert.Equal(0, scrape.Single(Upstream + "_bucket", ("meshgate_route", "b"), ("le", "0.25")));
        AssertCumulative(scrape, Upstream, [("meshgate_route", "b")], 3);

        // Body sizes in bytes: "hello" seven times; one 3000-byte upload.
        const string ResponseSize = "http_server_response_body_size_bytes";
        const string RequestSize = "http_server_request_body_size_bytes";
        Assert.Equal(35, scrape.Single(ResponseSize + "_sum", ("meshgate_route", "a"), ("http_request_method", "GET")));
        Assert.Equal(7, scrape.Single(ResponseSize + "_bucket", ("meshgate_route", "a"), ("http_request_method", "GET"), ("le", "256")));
        Assert.Equal(0, scrape.Single(ResponseSize + "_bucket", ("meshgate_route", "a"), ("http_request_method", "GET"), ("le", "0")));
        Assert.Equal(3000, scrape.Single(RequestSize + "_sum", ("meshgate_route", "a"), ("http_request_method", "POST")));
        Assert.Equal(0, scrape.Single(RequestSize + "_bucket", ("meshgate_route", "a"), ("http_request_method", "POST"), ("le", "1024")));
        Assert.Equal(1, scrape.Single(RequestSize + "_bucket", ("meshgate_route", "a"), ("http_request_method", "POST"), ("le", "4096")));

        // Connections and requests in flight come from Kestrel and ASP.NET Core, for the gateway's listener only.
        Assert.NotEmpty(scrape.Find("kestrel_active_connections", ("server_port", gateway.Url.Port.ToString())));
        Assert.Empty(scrape.Find("kestrel_active_connections", ("server_port", gateway.Admin.BaseAddress!.Port.ToString())));
        Assert.NotEmpty(scrape.Find("http_server_active_requests"));

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
