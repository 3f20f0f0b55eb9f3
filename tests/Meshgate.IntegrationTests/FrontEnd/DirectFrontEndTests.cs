using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Meshgate.Proxy.FrontEnd;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.FrontEnd;

/// <summary>
/// The direct front end (docs/front-end.md) against real upstreams, each behaviour a client can see run with
/// <c>frontEnd: auto</c> and <c>frontEnd: kestrel</c> where it matters, so the front end is held to the pipeline's answer;
/// and the hand-offs: every request the front end does not serve reaches Kestrel's pipeline whole, with the rest of its connection.
/// </summary>
public sealed class DirectFrontEndTests
{
    private static string Config(string endpoint, string frontEnd = "auto", string routes = "", string extra = "") => $$"""
        listeners:
          - name: web
            address: 127.0.0.1:0
            frontEnd: {{frontEnd}}
        routes:
        {{routes}}
          - id: all
            match: { path: "/{**rest}" }
            cluster: up
        clusters:
          - id: up
            endpoints: ["{{endpoint}}"]
        {{extra}}
        """;

    /// <summary>The catch-all and a route under /faulty that answers 418 by fault injection: a route with a step the front end does not take.</summary>
    private static string WithFaultyRoute(string endpoint) => Config(endpoint, routes: """
              - id: faulty
                match: { pathPrefix: /faulty }
                cluster: up
                faults: { abort: { status: 418, percent: 100 } }
            """);

    private static long Served(TestGateway gateway) => gateway.Host.Gateway.Services.GetRequiredService<DirectFrontEnd>().Served;

    private static long HandOffs(TestGateway gateway) => gateway.Host.Gateway.Services.GetRequiredService<DirectFrontEnd>().HandOffs;

    /// <summary>An upstream that answers with what it received: method, target and headers, one per line.</summary>
    private static Task<TestUpstream> EchoAsync() => TestUpstream.StartAsync(app => app.Run(context =>
    {
        var text = new StringBuilder($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString}\n");
        foreach (var header in context.Request.Headers.OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase)) text.Append($"{header.Key.ToLowerInvariant()}: {header.Value}\n");
        context.Response.Headers["X-Upstream"] = "echo";
        return context.Response.WriteAsync(text.ToString());
    }));

    [Fact]
    public async Task PlainGet_ServedByFrontEnd_UpstreamSeesWhatThePipelineSends()
    {
        await using var upstream = await EchoAsync();
        var seen = new Dictionary<string, string>();
        foreach (var frontEnd in new[] { "auto", "kestrel" })
        {
            await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, frontEnd));
            using var request = new HttpRequestMessage(HttpMethod.Get, "/items/7?sort=asc&q=a%2Fb");
            request.Headers.Add("X-Custom", "one");
            request.Headers.Add("X-Forwarded-For", "203.0.113.9");
            request.Headers.Add("Forwarded", "for=203.0.113.9");
            request.Headers.Add("Keep-Alive", "timeout=5");
            using var response = await gateway.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("echo", response.Headers.GetValues("X-Upstream").Single());
            Assert.True(response.Headers.Date is not null, "no Date header");
            // Each run has its own gateway port, which X-Forwarded-Host names.
            seen[frontEnd] = (await response.Content.ReadAsStringAsync()).Replace($"{gateway.Url.Host}:{gateway.Url.Port}", "GATEWAY", StringComparison.Ordinal);
            if (frontEnd == "auto") Assert.Equal(1, Served(gateway));
            else Assert.Equal(0, Served(gateway));
        }
        var lines = seen["auto"].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("GET /items/7?sort=asc&q=a%2Fb", lines[0]);
        Assert.Contains("x-custom: one", lines);
        // The client's forwarded headers are replaced by the gateway's own (the peer is not a trusted proxy).
        Assert.Contains("x-forwarded-for: 127.0.0.1", lines);
        Assert.Contains("x-forwarded-proto: http", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("forwarded:", StringComparison.Ordinal) || l.StartsWith("keep-alive:", StringComparison.Ordinal));
        Assert.Contains("x-forwarded-host: GATEWAY", lines);
        // The same request the pipeline sends, header for header (the Host is the upstream's in both).
        Assert.Equal(seen["kestrel"].Split('\n').Order(), seen["auto"].Split('\n').Order());
    }

    [Fact]
    public async Task ManyRequestsOnOneConnection_AllServed_UpstreamConnectionsReused()
    {
        await using var upstream = await TestUpstream.StartAsync(app => app.Run(context => context.Response.WriteAsync(context.Connection.Id + " " + context.Request.Path)));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));
        var connections = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            var body = await gateway.Client.GetStringAsync($"/n{i}");
            Assert.EndsWith($"/n{i}", body);
            connections.Add(body.Split(' ')[0]);
        }
        Assert.Equal(20, Served(gateway));
        Assert.Equal(0, HandOffs(gateway));
        Assert.Single(connections);
    }

    [Fact]
    public async Task PipelinedRequests_AnsweredInOrder_AndAPostAmongThemGoesToKestrelWithTheRest()
    {
        await using var upstream = await EchoAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));
        var host = $"{gateway.Url.Host}:{gateway.Url.Port}";
        var requests =
            $"GET /first HTTP/1.1\r\nHost: {host}\r\n\r\n" +
            $"GET /second HTTP/1.1\r\nHost: {host}\r\n\r\n" +
            $"POST /third HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello" +
            $"GET /fourth HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n";
        var exchange = await RawHttp.ExchangeAsync(gateway.Url, Encoding.ASCII.GetBytes(requests), TimeSpan.FromSeconds(10));
        var order = new[] { "GET /first", "GET /second", "POST /third", "GET /fourth" }.Select(t => exchange.Raw.IndexOf(t, StringComparison.Ordinal)).ToArray();
        Assert.All(order, i => Assert.True(i >= 0, exchange.Raw));
        Assert.Equal(order.Order(), order);
        Assert.Equal(4, CountOccurrences(exchange.Raw, "HTTP/1.1 200 OK"));
        Assert.Equal(2, Served(gateway));
        Assert.Equal(1, HandOffs(gateway));
    }

    [Fact]
    public async Task ConnectionClose_ServedByTheFrontEnd_AnsweredWithCloseThenClosed()
    {
        await using var upstream = await EchoAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));
        var host = $"{gateway.Url.Host}:{gateway.Url.Port}";
        // A request after the one that says close is never read.
        var exchange = await RawHttp.ExchangeAsync(gateway.Url,
            Encoding.ASCII.GetBytes($"GET /bye HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: {host}\r\n\r\n"), TimeSpan.FromSeconds(10));

        Assert.NotEqual(RawClose.StillOpen, exchange.Closed);
        Assert.Equal(200, exchange.Response!.Status);
        Assert.Equal("close", exchange.Response.Values("Connection").Single());
        // The client's Connection is hop-by-hop: the upstream connection stays pooled.
        Assert.DoesNotContain("connection: close", exchange.Response.Body);
        Assert.DoesNotContain("/never", exchange.Raw);
        Assert.Equal(1, Served(gateway));
        Assert.Equal(0, HandOffs(gateway));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task LargeAnswers_ToAClientThatReadsLate_ArriveWholeAndInOrder(bool chunked)
    {
        // Answers the socket cannot take at once: the front end sends what it takes, the rest waits in the transport's
        // pipe, and no later answer overtakes it (docs/front-end.md). 3 MiB each, with a length or chunked.
        const int size = 3 * 1024 * 1024;
        static byte[] Body(string path) => Enumerable.Range(0, size).Select(i => (byte)(i * 31 + path.Length * 7 + path[^1])).ToArray();
        await using var upstream = await TestUpstream.StartAsync(app => app.Run(async context =>
        {
            var body = context.Request.Path == "/small" ? "small"u8.ToArray() : Body(context.Request.Path);
            if (!chunked) context.Response.ContentLength = body.Length;
            for (var offset = 0; offset < body.Length; offset += 64 * 1024)
            {
                await context.Response.Body.WriteAsync(body.AsMemory(offset, Math.Min(64 * 1024, body.Length - offset)));
                await context.Response.Body.FlushAsync();
            }
        }));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));
        var host = $"{gateway.Url.Host}:{gateway.Url.Port}";
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.ReceiveBufferSize = 64 * 1024;
        await client.ConnectAsync(IPAddress.Loopback, gateway.Url.Port);
        await client.SendAsync(Encoding.ASCII.GetBytes(
            $"GET /big/1 HTTP/1.1\r\nHost: {host}\r\n\r\nGET /big/22 HTTP/1.1\r\nHost: {host}\r\n\r\nGET /small HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
        await Task.Delay(500); // not reading: the gateway's sends fill the socket and the rest queues
        using var stream = new NetworkStream(client);
        var received = new MemoryStream();
        await stream.CopyToAsync(received).WaitAsync(TimeSpan.FromSeconds(30));

        var bodies = AnswerBodies(received.ToArray());
        Assert.Equal(3, bodies.Count);
        Assert.Equal(Body("/big/1"), bodies[0]);
        Assert.Equal(Body("/big/22"), bodies[1]);
        Assert.Equal("small"u8.ToArray(), bodies[2]);
        Assert.Equal(3, Served(gateway));
    }

    /// <summary>The bodies of the HTTP/1.1 answers one after another in <paramref name="raw"/>, each by its Content-Length or its chunks.</summary>
    private static List<byte[]> AnswerBodies(byte[] raw)
    {
        var bodies = new List<byte[]>();
        var at = 0;
        while (at < raw.Length)
        {
            var headEnd = raw.AsSpan(at).IndexOf("\r\n\r\n"u8);
            Assert.True(headEnd > 0, "an answer's head is cut off");
            var head = Encoding.ASCII.GetString(raw, at, headEnd).Split("\r\n");
            Assert.StartsWith("HTTP/1.1 200", head[0]);
            at += headEnd + 4;
            var length = head.FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            if (length is not null)
            {
                var count = int.Parse(length["Content-Length:".Length..].Trim());
                bodies.Add(raw[at..(at + count)]);
                at += count;
                continue;
            }
            Assert.Contains(head, l => l.Equals("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase));
            var body = new MemoryStream();
            while (true)
            {
                var lineEnd = raw.AsSpan(at).IndexOf("\r\n"u8);
                var chunk = Convert.ToInt32(Encoding.ASCII.GetString(raw, at, lineEnd), 16);
                at += lineEnd + 2;
                body.Write(raw, at, chunk);
                at += chunk + 2;
                if (chunk == 0) break;
            }
            bodies.Add(body.ToArray());
        }
        return bodies;
    }

    private static int CountOccurrences(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    [Fact]
    public async Task RouteWithAStepTheFrontEndDoesNotTake_HandedOff_StepApplied()
    {
        await using var upstream = await EchoAsync();
        await using var gateway = await TestGateway.StartAsync(WithFaultyRoute(upstream.Endpoint));
        Assert.Equal((HttpStatusCode)418, (await gateway.Client.GetAsync("/faulty/a")).StatusCode);
        Assert.Equal(0, Served(gateway));
        Assert.True(HandOffs(gateway) >= 1);
    }

    [Fact]
    public async Task NoRoute_HandedOff_PipelineAnswers404Problem()
    {
        await using var upstream = await EchoAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            listeners:
              - name: web
                address: 127.0.0.1:0
            routes:
              - id: api
                match: { pathPrefix: /api }
                cluster: up
            clusters:
              - id: up
                endpoints: ["{{upstream.Endpoint}}"]
            """);
        using var response = await gateway.Client.GetAsync("/elsewhere");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("no-route", response.Headers.GetValues("x-meshgate-error").Single());
        Assert.Equal(0, Served(gateway));
        Assert.Equal(1, HandOffs(gateway));
    }

    [Theory]
    [InlineData("auto")]
    [InlineData("kestrel")]
    public async Task UpstreamDown_502Problem_SameBothWays(string frontEnd)
    {
        var port = FreePort();
        await using var gateway = await TestGateway.StartAsync(Config($"http://127.0.0.1:{port}", frontEnd));
        using var response = await gateway.Client.GetAsync("/down");
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("upstream-unavailable", response.Headers.GetValues("x-meshgate-error").Single());
        using var problem = JsonDocument.Parse(body);
        Assert.Equal("/down", problem.RootElement.GetProperty("instance").GetString());
        Assert.Contains("could not be reached", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        // The connection's id has one width, as Kestrel's: the answer's length does not depend on how many connections came before.
        Assert.Matches("^E[0-9A-F]{12}:[0-9A-F]{8}$", problem.RootElement.GetProperty("requestId").GetString());
        Assert.Equal(frontEnd == "auto" ? 1 : 0, Served(gateway));
        // The connection stays usable after the error.
        Assert.Equal(HttpStatusCode.BadGateway, (await gateway.Client.GetAsync("/down-again")).StatusCode);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false)]
    [InlineData("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world", true)]
    public async Task UnknownLengthBody_ReachesTheClientChunked_ConnectionKept(string answer, bool upstreamCloses)
    {
        await using var upstream = RawUpstream.Start(_ => new RawAnswer(answer, close: upstreamCloses));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));
        for (var i = 0; i < 2; i++)
        {
            using var response = await gateway.Client.GetAsync($"/body{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(response.Headers.TransferEncodingChunked, "the answer was not chunked");
            Assert.Equal("hello world", await response.Content.ReadAsStringAsync());
        }
        Assert.Equal(2, Served(gateway));
    }

    [Fact]
    public async Task Head_LengthPassedOn_NoBody()
    {
        await using var upstream = RawUpstream.Start(_ => new RawAnswer("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n"));
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));
        var host = $"{gateway.Url.Host}:{gateway.Url.Port}";
        var exchange = await RawHttp.ExchangeAsync(gateway.Url, Encoding.ASCII.GetBytes($"HEAD /h HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n"), TimeSpan.FromSeconds(2));
        Assert.NotNull(exchange.Response);
        Assert.Equal(200, exchange.Response!.Status);
        Assert.Equal("11", exchange.Response.Values("Content-Length").Single());
        Assert.Equal("", exchange.Response.Body);
        Assert.Equal(RawClose.StillOpen, exchange.Closed);
        Assert.Equal(1, Served(gateway));
    }

    [Theory]
    [InlineData("GET /a HTTP/1.1\r\nHost: h\r\nX_Under: 1\r\n\r\n", 400)]
    [InlineData("GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n", 200)]
    [InlineData("GET /a HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n", 400)]
    [InlineData("GET /a HTTP/1.1\nHost: h\n\n", 400)]
    [InlineData("GET /a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    public async Task HostileOrUnusualHead_HandedOff_PipelineDecides(string head, int status)
    {
        await using var upstream = await EchoAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));
        var exchange = await RawHttp.ExchangeAsync(gateway.Url, Encoding.ASCII.GetBytes(head), TimeSpan.FromSeconds(2));
        Assert.True(exchange.Response?.Status == status, $"expected {status}: {exchange.Raw}");
        Assert.Equal(0, Served(gateway));
        Assert.Equal(1, HandOffs(gateway));
    }

    [Fact]
    public async Task Metrics_FrontEndRequestsCountedInThePipelinesSeries()
    {
        await using var upstream = await EchoAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync($"/m{i}")).StatusCode);
        // A request is recorded once its answer is sent, so the client can hold the last answer a moment before that.
        string[] expected =
        [
            "http_server_request_duration_seconds_count{otel_scope_name=\"Microsoft.AspNetCore.Hosting\",http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/{**rest}\",meshgate_cluster=\"up\",meshgate_route=\"all\",network_protocol_version=\"1.1\",url_scheme=\"http\"} 3",
            "meshgate_upstream_duration_seconds_count{otel_scope_name=\"Meshgate\",cluster=\"up\",http_response_status_code=\"200\",route=\"all\"} 3",
            "meshgate_front_end_requests_total{otel_scope_name=\"Meshgate\"} 3",
        ];
        var scrape = "";
        await Eventually.HoldsAsync(async () => expected.All((scrape = await gateway.Admin.GetStringAsync("/metrics")).Contains), TimeSpan.FromSeconds(5),
            "all three requests are counted");
        foreach (var series in expected) Assert.Contains(series, scrape);
        Assert.Equal(3, Served(gateway));
    }

    [Fact]
    public async Task FrontEndKestrel_EveryRequestThroughThePipeline()
    {
        await using var upstream = await EchoAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint, "kestrel"));
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync($"/k{i}")).StatusCode);
        Assert.Equal(0, Served(gateway));
        Assert.Equal(0, HandOffs(gateway));
    }

    [Fact]
    public async Task ConfigChange_NewRouteTakesEffect_OnAnOpenConnection()
    {
        await using var one = await TestUpstream.NamedAsync("one");
        await using var two = await TestUpstream.NamedAsync("two");
        await using var gateway = await TestGateway.StartAsync(Config(one.Endpoint));
        Assert.Equal("one", await gateway.UpstreamForAsync("/x"));
        var generation = await gateway.GenerationAsync();
        await gateway.RewriteConfigAsync(Config(two.Endpoint));
        await Eventually.HoldsAsync(async () => await gateway.GenerationAsync() > generation, TimeSpan.FromSeconds(10), "the config was not reloaded");
        await Eventually.HoldsAsync(async () => await gateway.UpstreamForAsync("/x") == "two", TimeSpan.FromSeconds(10), "the front end kept the old route");
        Assert.True(Served(gateway) >= 2);
    }

    [Theory]
    [InlineData("")]
    [InlineData("GET /slow HTTP/1.1\r\nHo")]
    public async Task IdleOrSlowClient_ClosedAfterKestrelsTimeout(string sent)
    {
        // The front end on a Kestrel of the test's own, with timeouts short enough to wait for (the gateway's are Kestrel's defaults).
        await using var upstream = await EchoAsync();
        await using var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));
        var frontEnd = gateway.Host.Gateway.Services.GetRequiredService<DirectFrontEnd>();
        var limits = new Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerLimits { KeepAliveTimeout = TimeSpan.FromSeconds(1.5), RequestHeadersTimeout = TimeSpan.FromSeconds(1.5) };
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.Use(frontEnd.For("web", limits))));
        await using var app = builder.Build();
        app.Run(context => context.Response.WriteAsync("kestrel"));
        await app.StartAsync();
        var url = new Uri(app.Urls.First());

        using var client = new TcpClient();
        await client.ConnectAsync(url.Host, url.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(sent));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            Assert.Equal(0, await stream.ReadAsync(new byte[64], cts.Token));
        }
        catch (IOException)
        {
            // A reset is a close too.
        }
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Shutdown_RequestInFlightFinishesWithConnectionClose_IdleConnectionClosed()
    {
        await using var upstream = await HeldUpstream.StartAsync();
        var gateway = await TestGateway.StartAsync(Config(upstream.Endpoint));
        await using var _ = gateway;
        var host = $"{gateway.Url.Host}:{gateway.Url.Port}";
        using var idle = new TcpClient();
        await idle.ConnectAsync(gateway.Url.Host, gateway.Url.Port);
        using var busy = new TcpClient();
        await busy.ConnectAsync(gateway.Url.Host, gateway.Url.Port);
        await busy.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET /held HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        await upstream.WaitForArrivalsAsync(1, "the request did not reach the upstream");

        var stopping = gateway.Host.StopAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        // The idle connection is closed without waiting for the drain.
        Assert.Equal(0, await idle.GetStream().ReadAsync(new byte[64], cts.Token));
        upstream.Release();
        using var received = new MemoryStream();
        await busy.GetStream().CopyToAsync(received, cts.Token);
        var answer = RawResponse.Parse(Encoding.ASCII.GetString(received.ToArray()));
        Assert.Equal(200, answer.Status);
        Assert.Equal("close", answer.Values("Connection").Single());
        await stopping;
        Assert.Equal(1, Served(gateway));
    }

    [Fact]
    public async Task Explain_SaysWhetherTheFrontEndServesTheRoute_AndWhyNot()
    {
        await using var upstream = await EchoAsync();
        await using var gateway = await TestGateway.StartAsync(WithFaultyRoute(upstream.Endpoint));
        async Task<string> FrontEndAsync(string query)
        {
            using var explanation = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/explain?" + query));
            return explanation.RootElement.GetProperty("policies").GetProperty("frontEnd").GetString()!;
        }
        Assert.StartsWith("direct:", await FrontEndAsync("method=GET&path=/plain"));
        Assert.Equal("kestrel: the route has steps the front end does not take (Faults)", await FrontEndAsync("method=GET&path=/faulty/a"));
        Assert.Equal("kestrel: only GET and HEAD requests without a body take it", await FrontEndAsync("method=POST&path=/plain"));
    }

    [Fact]
    public async Task TlsListener_Http11ServedAfterTheHandshake_Http2ByAlpnGoesToKestrel()
    {
        var directory = TempDirectory.Create();
        using var certificates = new TestCertificates(directory, "Front End CA");
        var (_, certPath, keyPath) = certificates.Issue("gateway.test");
        await using var upstream = await EchoAsync();
        await using var gateway = await TestGateway.StartAsync($$"""
            listeners:
              - name: secure
                address: 127.0.0.1:0
                tls: { cert: "{{certPath}}", key: "{{keyPath}}" }
            routes:
              - id: all
                match: { path: "/{**rest}" }
                cluster: up
            clusters:
              - id: up
                endpoints: ["{{upstream.Endpoint}}"]
            """, directory);
        using var client = certificates.TrustingClient(gateway.Url);

        using var http11 = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/secure") { Version = HttpVersion.Version11 });
        Assert.Equal(HttpVersion.Version11, http11.Version);
        var seen = (await http11.Content.ReadAsStringAsync()).Split('\n');
        Assert.Contains("x-forwarded-proto: https", seen);
        Assert.Equal(1, Served(gateway));

        using var http2 = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/secure") { Version = HttpVersion.Version20 });
        Assert.Equal(HttpStatusCode.OK, http2.StatusCode);
        Assert.Equal(HttpVersion.Version20, http2.Version);
        Assert.Contains("x-forwarded-proto: https", (await http2.Content.ReadAsStringAsync()).Split('\n'));
        Assert.Equal(1, Served(gateway));
        Assert.Equal(0, HandOffs(gateway));
    }
}
