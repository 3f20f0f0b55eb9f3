using System.Net;
using System.Text;
using System.Text.Json;
using Meshgate.Proxy.FrontEnd;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.FrontEnd;

/// <summary>
/// Rate-limited routes under the direct front end (docs/front-end.md): the front end counts the request itself, with the
/// pipeline's limiters, and answers as the pipeline's step does. Each behaviour runs with <c>frontEnd: auto</c> and
/// <c>frontEnd: kestrel</c> where the answers can be compared.
/// </summary>
public sealed class FrontEndRateLimitTests
{
    private static string Config(string endpoint, string policy, string frontEnd = "auto") => $$"""
        listeners:
          - name: web
            address: 127.0.0.1:0
            frontEnd: {{frontEnd}}
        routes:
          - id: limited
            match: { pathPrefix: /limited }
            cluster: up
            rateLimit: api
        rateLimits:
          api: {{policy}}
        clusters:
          - id: up
            endpoints: ["{{endpoint}}"]
        """;

    private static DirectFrontEnd FrontEnd(TestGateway gateway) => gateway.Host.Gateway.Services.GetRequiredService<DirectFrontEnd>();

    /// <summary>An upstream that sends a RateLimit field of its own, which the gateway's must replace.</summary>
    private static Task<TestUpstream> UpstreamWithItsOwnRateLimitAsync() => TestUpstream.StartAsync(app => app.Run(context =>
    {
        context.Response.Headers["RateLimit"] = "\"upstream\";r=99;t=1";
        return context.Response.WriteAsync("ok " + context.Request.Path);
    }));

    /// <summary>What a client sees of an answer: status, the rate-limit fields, and a problem's fields (not its request id).</summary>
    private static async Task<string> SeenAsync(HttpResponseMessage response)
    {
        string Values(string name) => response.Headers.TryGetValues(name, out var values) ? string.Join(" | ", values) : "-";
        var text = new StringBuilder($"{(int)response.StatusCode} policy={Values("RateLimit-Policy")} state={Values("RateLimit")} retry-after={Values("Retry-After")}");
        var body = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType?.MediaType == "application/problem+json" && body.Length > 0)
        {
            using var problem = JsonDocument.Parse(body);
            foreach (var field in new[] { "type", "title", "status", "detail", "instance" }) text.Append($" {field}={problem.RootElement.GetProperty(field)}");
        }
        else
        {
            text.Append(" body=" + body);
        }
        return text.ToString();
    }

    [Fact]
    public async Task LocalLimit_ServedByTheFrontEnd_AnswersAsThePipeline()
    {
        await using var upstream = await UpstreamWithItsOwnRateLimitAsync();
        var seen = new Dictionary<string, List<string>>();
        foreach (var frontEnd in new[] { "auto", "kestrel" })
        {
            // A token bucket over an hour: its t values stay the same whole seconds for the whole test.
            await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, "{ algorithm: token-bucket, limit: 2, window: 1h, key: client-ip, headers: true }", frontEnd));
            var run = seen[frontEnd] = [];
            for (var i = 0; i < 3; i++)
            {
                using var response = await gateway.Client.GetAsync($"/limited/{i}");
                run.Add(await SeenAsync(response));
            }
            using var head = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/limited/head"));
            run.Add(await SeenAsync(head));
            Assert.Equal(frontEnd == "auto" ? 4 : 0, FrontEnd(gateway).Served);
            Assert.Equal(0, FrontEnd(gateway).HandOffs);
        }

        Assert.Equal(seen["kestrel"], seen["auto"]);
        var answers = seen["auto"];
        // The gateway's fields replace the upstream's; the third request is refused with the problem and Retry-After.
        Assert.Equal("200 policy=\"api\";q=2;w=3600 state=\"api\";r=1;t=1800 retry-after=- body=ok /limited/0", answers[0]);
        Assert.StartsWith("200 policy=\"api\";q=2;w=3600 state=\"api\";r=0;t=3600", answers[1]);
        Assert.Equal("429 policy=\"api\";q=2;w=3600 state=\"api\";r=0;t=1800 retry-after=1800 type=https://meshgate.dev/errors/rate-limited title=Too many requests status=429 "
            + "detail=Rate limit 'api' allows 2 requests per hour. Retry after 1800 s. instance=/limited/2", answers[2]);
        Assert.StartsWith("429 policy=\"api\";q=2;w=3600 state=\"api\";r=0;t=1800 retry-after=1800", answers[3]);
    }

    [Fact]
    public async Task HeaderKey_EachValueCountsApart_RepeatedLinesAreOneCommaJoinedValue()
    {
        await using var upstream = await UpstreamWithItsOwnRateLimitAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, "{ algorithm: fixed-window, limit: 1, window: 1h, key: header:x-tenant }"));
        var host = $"{gateway.Url.Host}:{gateway.Url.Port}";
        async Task<int> StatusAsync(params string[] tenants)
        {
            var lines = string.Concat(tenants.Select(t => $"X-Tenant: {t}\r\n"));
            return (await RawHttp.SendAsync(gateway.Url, $"GET /limited HTTP/1.1\r\nHost: {host}\r\n{lines}Connection: close\r\n\r\n")).Status;
        }

        Assert.Equal(200, await StatusAsync("a"));
        Assert.Equal(429, await StatusAsync("a"));
        Assert.Equal(200, await StatusAsync("b"));
        // Two lines are the pipeline's "c,d" (StringValues joined): the same key as one line saying so.
        Assert.Equal(200, await StatusAsync("c", "d"));
        Assert.Equal(429, await StatusAsync("c,d"));
        Assert.Equal(5, FrontEnd(gateway).Served);
    }

    [Fact]
    public async Task ConcurrencyLimit_HeldUntilTheAnswerHasGone()
    {
        await using var upstream = await HeldUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, "{ algorithm: concurrency, limit: 1, key: route }"));
        using var other = new HttpClient { BaseAddress = gateway.Url };

        var first = gateway.Client.GetAsync("/limited/first");
        await upstream.WaitForArrivalsAsync(1, "the first request did not reach the upstream");
        using (var refused = await other.GetAsync("/limited/second"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Contains("1 requests in flight at once", await refused.Content.ReadAsStringAsync());
        }
        upstream.Release();
        using (var answered = await first) Assert.Equal("done", await answered.Content.ReadAsStringAsync());
        var sent = await Eventually.AnsweredOkAsync(other, "/limited/third", "the permit came back once the first answer had gone");
        Assert.Equal(2 + sent, FrontEnd(gateway).Served);
    }

    [Fact]
    public async Task AllowedRequest_UpstreamDown_TheProblemCarriesTheRateLimitFieldsToo()
    {
        var seen = new Dictionary<string, string>();
        foreach (var frontEnd in new[] { "auto", "kestrel" })
        {
            await using var gateway = await TestGateway.StartAsync(Config($"http://127.0.0.1:{DebianServerBinary.FreePort()}", "{ algorithm: token-bucket, limit: 5, window: 1h, headers: true }", frontEnd));
            using var response = await gateway.Client.GetAsync("/limited/x");
            seen[frontEnd] = await SeenAsync(response);
            Assert.Equal(frontEnd == "auto" ? 1 : 0, FrontEnd(gateway).Served);
        }
        Assert.Equal(seen["kestrel"], seen["auto"]);
        Assert.StartsWith("502 policy=\"api\";q=5;w=3600 state=\"api\";r=4;t=720 retry-after=-", seen["auto"]);
    }

    [Fact]
    public async Task Explain_RateLimitedRoute_ServedByTheFrontEnd()
    {
        await using var upstream = await UpstreamWithItsOwnRateLimitAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, "{ algorithm: fixed-window, limit: 1, window: 1h }"));
        using var explanation = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/explain?method=GET&path=/limited/a"));
        Assert.StartsWith("direct:", explanation.RootElement.GetProperty("policies").GetProperty("frontEnd").GetString());
    }
}
