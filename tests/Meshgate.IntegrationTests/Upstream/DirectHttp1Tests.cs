using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Meshgate.IntegrationTests.Forwarding;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Upstream;

/// <summary>
/// The direct HTTP/1.1 upstream path against real upstreams: connection reuse and the ways an upstream ends a
/// connection, body framings, interim answers, broken answers, failures, timeouts and aborts. Where the behaviour is
/// one a client sees, the test runs on YARP's forwarder too, so both paths are held to the same answer.
/// </summary>
public sealed class DirectHttp1Tests
{
    private static string Config(string endpoint, string forwarder = "auto", string extra = "", string route = "") => $$"""
        routes:
          - id: all
            match: { path: "/{**rest}" }
            cluster: up
        {{route}}
        clusters:
          - id: up
            endpoints: ["{{endpoint}}"]
            forwarder: {{forwarder}}
        {{extra}}
        """;

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? detail = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        if (detail is not null) Assert.Contains(detail, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ManyRequests_ReuseFewConnections()
    {
        await using var upstream = await TestUpstream.StartAsync(app => app.Run(context => context.Response.WriteAsync(context.Connection.Id)));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));

        var connections = new HashSet<string>();
        for (var i = 0; i < 30; i++) connections.Add(await gateway.Client.GetStringAsync($"/r{i}"));
        // Concurrent ones may open a few more, never one each.
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => gateway.Client.GetStringAsync($"/c{i}")));
        foreach (var id in concurrent) connections.Add(id);

        Assert.Equal(50, gateway.DirectRequests());
        Assert.True(connections.Count <= 21, $"50 requests used {connections.Count} upstream connections");
        Assert.Equal(connections.Count, gateway.DirectConnectionsOpened());
        Assert.True(gateway.DirectConnectionsOpened() < 30, "sequential requests did not share a connection");
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("POST")]
    public async Task UpstreamClosesIdleConnection_NextRequestStill200(string method)
    {
        // Answers, then closes the connection without saying so: an upstream whose keep-alive timeout fired.
        await using var upstream = RawUpstream.Start(r => new RawAnswer($"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close: true));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));

        for (var i = 0; i < 3; i++)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), $"/idle{i}") { Content = method == "POST" ? new StringContent("body") : null };
            using var response = await gateway.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("ok", await response.Content.ReadAsStringAsync());
            // The gateway sees the close before the next request goes out.
            await Eventually.HoldsAsync(() => Task.FromResult(upstream.Closed == i + 1), TimeSpan.FromSeconds(5), "the upstream closed its connection");
        }
        Assert.Equal(3, upstream.Requests);
        gateway.AssertServedBy("auto");
    }

    [Fact]
    public async Task UpstreamSaysConnectionClose_NextRequestOnANewConnection()
    {
        await using var upstream = RawUpstream.Start(r => new RawAnswer($"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye", close: false));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));

        for (var i = 0; i < 3; i++) Assert.Equal("bye", await gateway.Client.GetStringAsync($"/c{i}"));

        // The upstream kept the connections open: the gateway must not have reused one it was told to close.
        Assert.Equal(3, upstream.Connections);
        Assert.All(upstream.Received, r => Assert.Equal(1, r.Number));
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task ChunkedRequestAndResponse_ForwardedWhole(string forwarder)
    {
        await using var upstream = await TestUpstream.StartAsync(app => app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            // No Content-Length: Kestrel answers chunked.
            await context.Response.WriteAsync($"{context.Request.Headers.TransferEncoding}|");
            await context.Response.Body.FlushAsync();
            await context.Response.WriteAsync(body.ToUpperInvariant());
        }));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, forwarder));
        var text = string.Concat(Enumerable.Repeat("chunk of text ", 5000));
        using var content = new StreamContent(new MemoryStream(Encoding.ASCII.GetBytes(text)));

        using var request = new HttpRequestMessage(HttpMethod.Post, "/upper") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("chunked|" + text.ToUpperInvariant(), await response.Content.ReadAsStringAsync());
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task CloseDelimitedResponse_BodyUntilTheUpstreamCloses(string forwarder)
    {
        await using var upstream = RawUpstream.Start(r => new RawAnswer("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nread until the end", close: true));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, forwarder));

        Assert.Equal("read until the end", await gateway.Client.GetStringAsync("/x"));
        Assert.Equal("read until the end", await gateway.Client.GetStringAsync("/y"));
        Assert.Equal(2, upstream.Connections);
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task HeadAnd204And304_NoBodyReadAndTheConnectionServesTheNextRequest(string forwarder)
    {
        await using var upstream = RawUpstream.Start(r => r.Target switch
        {
            "/head" => new RawAnswer("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n"),
            "/no-content" => new RawAnswer("HTTP/1.1 204 No Content\r\nx-kind: empty\r\n\r\n"),
            "/not-modified" => new RawAnswer("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n"),
            _ => new RawAnswer("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"),
        });
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, forwarder));

        using (var head = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/head")))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(1000, head.Content.Headers.ContentLength);
        }
        Assert.Equal("next", await gateway.Client.GetStringAsync("/after-head"));
        using (var empty = await gateway.Client.GetAsync("/no-content"))
        {
            Assert.Equal(HttpStatusCode.NoContent, empty.StatusCode);
            Assert.Equal("empty", empty.Headers.GetValues("x-kind").Single());
        }
        Assert.Equal("next", await gateway.Client.GetStringAsync("/after-204"));
        using (var notModified = await gateway.Client.GetAsync("/not-modified"))
        {
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
            Assert.Equal("\"v1\"", notModified.Headers.ETag?.Tag);
        }
        Assert.Equal("next", await gateway.Client.GetStringAsync("/after-304"));
        Assert.Equal(1, upstream.Connections);
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task InterimContinueFromUpstream_Skipped(string forwarder)
    {
        await using var upstream = RawUpstream.Start(r => new RawAnswer("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\ncreated"));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, forwarder));

        using var response = await gateway.Client.PostAsync("/things", new StringContent("{}"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("created", await response.Content.ReadAsStringAsync());
        Assert.Equal("{}", Encoding.ASCII.GetString(upstream.Received.Single().Body));
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task MalformedStatusLine_Is502Problem(string forwarder)
    {
        await using var upstream = RawUpstream.Start(r => new RawAnswer("HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", close: true));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, forwarder));

        using var response = await gateway.Client.GetAsync("/x");

        await AssertProblemAsync(response, HttpStatusCode.BadGateway, "not valid HTTP");
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task ResponseHeadersOver64KiB_Is502Problem(string forwarder)
    {
        var big = new string('h', 70 * 1024);
        await using var upstream = RawUpstream.Start(r => new RawAnswer($"HTTP/1.1 200 OK\r\nx-big: {big}\r\nContent-Length: 2\r\n\r\nok", close: true));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, forwarder));

        using var response = await gateway.Client.GetAsync("/x");

        await AssertProblemAsync(response, HttpStatusCode.BadGateway, "64 KiB");
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task UpstreamDiesMidBody_ClientSeesAnAbortedResponse(string forwarder)
    {
        await using var upstream = await FaultyUpstream.StartAsync("dying", UpstreamFault.ResetMidBody);
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, forwarder));

        using var response = await gateway.Client.GetAsync("/x", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsByteArrayAsync());
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task ConnectRefused_Is502AndOutlierDetectionEjectsTheEndpoint(string forwarder)
    {
        await using var live = await TestUpstream.NamedAsync("live");
        var dead = $"http://127.0.0.1:{DebianServerBinary.FreePort()}";
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: two }
            clusters:
              - id: two
                endpoints: ["{{live.Endpoint}}", "{{dead}}"]
                forwarder: {{forwarder}}
                outlierDetection: { consecutiveGatewayErrors: 1, baseEjectionTime: 5m, maxEjectionPercent: 50 }
            """);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await gateway.Client.GetAsync($"/x{i}");
            if (response.StatusCode == HttpStatusCode.BadGateway) await AssertProblemAsync(response, HttpStatusCode.BadGateway);
            statuses.Add(response.StatusCode);
        }

        Assert.Contains(HttpStatusCode.BadGateway, statuses);
        using var explain = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/explain?path=/x"));
        var endpoints = explain.RootElement.GetProperty("endpoints").EnumerateArray().ToDictionary(e => e.GetProperty("address").GetString()!, e => e.GetProperty("health").GetString());
        Assert.Equal("ejected (outlier detection)", endpoints[dead]);
        for (var i = 0; i < 5; i++) Assert.Equal("live", await gateway.UpstreamForAsync($"/after{i}"));
        gateway.AssertServedBy(forwarder);
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task RouteTimeout_Is504AndTheUpstreamSeesTheAbort(string forwarder)
    {
        await using var upstream = await FaultyUpstream.StartAsync("slow", UpstreamFault.Slow);
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, forwarder, extra: """
            resilience:
              quick: { timeout: 300ms }
            """).Replace("    cluster: up\n", "    cluster: up\n    resilience: quick\n", StringComparison.Ordinal));

        var clock = Stopwatch.StartNew();
        using var response = await gateway.Client.GetAsync("/slow");

        await AssertProblemAsync(response, HttpStatusCode.GatewayTimeout);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10));
        await upstream.AbortSeen.Task.WaitAsync(TimeSpan.FromSeconds(10));
        gateway.AssertServedBy(forwarder);
    }

    [Fact]
    public async Task ClientAborts_UpstreamRequestAbortedAndNothingLeaks()
    {
        await using var upstream = await FaultyUpstream.StartAsync("slow", UpstreamFault.Slow);
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));

        using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gateway.Client.GetAsync("/slow", cancel.Token));
        }

        await upstream.AbortSeen.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // The attempt ended: the endpoint counts no request in flight, and the aborted connection was not pooled.
        await Eventually.HoldsAsync(async () =>
        {
            using var explain = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/explain?path=/x"));
            return explain.RootElement.GetProperty("endpoints")[0].GetProperty("activeRequests").GetInt32() == 0;
        }, TimeSpan.FromSeconds(10), "the aborted request's attempt ended");
        upstream.Fault = UpstreamFault.None;
        Assert.Equal("slow", await gateway.Client.GetStringAsync("/after"));
        Assert.Equal(2, gateway.DirectConnectionsOpened());
    }

    [Fact]
    public async Task RetryOnStatus_DirectPathRetriesOnAnotherEndpointAndDropsTheFailedBody()
    {
        await using var failing = await FaultyUpstream.StartAsync("failing", UpstreamFault.Status);
        await using var healthy = await FaultyUpstream.StartAsync("healthy");
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: two, resilience: retrying }
            clusters:
              - { id: two, endpoints: ["{{failing.Endpoint}}", "{{healthy.Endpoint}}"] }
            resilience:
              retrying: { retries: { attempts: 2, on: [gateway-error] } }
            """);

        for (var i = 0; i < 6; i++)
        {
            using var response = await gateway.Client.GetAsync($"/r{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("healthy", await response.Content.ReadAsStringAsync());
        }
        Assert.True(failing.Requests > 0, "round robin never tried the failing endpoint");
        gateway.AssertServedBy("auto");
    }

    [Fact]
    public async Task Explain_ShowsTheForwarderAndWhy()
    {
        await using var upstream = await TestUpstream.NamedAsync("a");
        await using var gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: direct, match: { pathPrefix: /direct }, cluster: plain }
              - { id: forced, match: { pathPrefix: /forced }, cluster: forced }
              - { id: tls, match: { pathPrefix: /tls }, cluster: tls }
              - { id: hedged, match: { pathPrefix: /hedged }, cluster: plain, resilience: hedging }
            clusters:
              - { id: plain, endpoints: ["{{upstream.Endpoint}}"] }
              - { id: forced, endpoints: ["{{upstream.Endpoint}}"], forwarder: yarp }
              - { id: tls, endpoints: ["https://127.0.0.1:1"] }
            resilience:
              hedging: { timeout: 5s, hedging: { delay: 50ms, maxAttempts: 2 } }
            """);

        async Task<string> ForwarderOf(string query)
        {
            using var explain = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/explain?" + query));
            return explain.RootElement.GetProperty("policies").GetProperty("forwarder").GetString()!;
        }

        Assert.StartsWith("direct: HTTP/1.1 upstream path", await ForwarderOf("path=/direct/x"));
        Assert.Equal("yarp: cluster 'forced' sets forwarder: yarp", await ForwarderOf("path=/forced/x"));
        Assert.StartsWith("yarp: cluster uses TLS under forwarder: auto", await ForwarderOf("path=/tls/x"));
        Assert.StartsWith("yarp: the route hedges requests", await ForwarderOf("path=/hedged/x"));
        Assert.Equal("yarp: upgrade request (WebSocket)", await ForwarderOf("path=/direct/x&header=Upgrade:websocket"));
        Assert.Equal("yarp: gRPC request", await ForwarderOf("path=/direct/x&header=Content-Type:application/grpc"));
    }
}
