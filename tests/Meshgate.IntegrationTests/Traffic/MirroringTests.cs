using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Traffic;

public sealed class MirroringTests : IAsyncLifetime
{
    private sealed record Received(string Method, string PathAndQuery, string Body, string? Custom, string? MirrorMark, string? Host);

    private TestUpstream _primary = null!;
    private readonly ConcurrentQueue<Received> _primaryReceived = new();
    private readonly ConcurrentQueue<Received> _shadowReceived = new();
    private TestUpstream _shadow = null!;

    public async Task InitializeAsync()
    {
        _primary = await RecordingAsync("primary", _primaryReceived);
        _shadow = await RecordingAsync("shadow", _shadowReceived);
    }

    public async Task DisposeAsync()
    {
        await _primary.DisposeAsync();
        await _shadow.DisposeAsync();
    }

    /// <summary>Answers 200 "hello" as text/plain and records what it received.</summary>
    private static Task<TestUpstream> RecordingAsync(string name, ConcurrentQueue<Received> received) => TestUpstream.StartAsync(app => app.Run(async context =>
    {
        var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
        received.Enqueue(new Received(context.Request.Method, context.Request.Path + context.Request.QueryString, body,
            context.Request.Headers["x-custom"].FirstOrDefault(), context.Request.Headers["x-meshgate-mirror"].FirstOrDefault(), context.Request.Host.Value));
        context.Response.Headers["x-upstream"] = name;
        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync("hello");
    }));

    private static Task<TestUpstream> AnsweringAsync(int status, string contentType, string body, TimeSpan delay = default) => TestUpstream.StartAsync(app => app.Run(async context =>
    {
        if (delay > TimeSpan.Zero) await Task.Delay(delay, context.RequestAborted);
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        await context.Response.WriteAsync(body);
    }));

    private string Config(string mirror, string shadowEndpoint, string extraRoutes = "", string extraClusters = "") => $$"""
        routes:
          - id: orders
            match: { pathPrefix: /orders }
            cluster: orders
            transforms: { stripPrefix: /orders, requestHeaders: { set: { x-custom: from-route } } }
            mirror: {{mirror}}
        {{extraRoutes}}
        clusters:
          - id: orders
            endpoints: ["{{_primary.Endpoint}}"]
          - id: shadow
            endpoints: ["{{shadowEndpoint}}"]
        {{extraClusters}}
        """;

    private static async Task<JsonElement> CountsAsync(TestGateway gateway, string route)
    {
        using var routes = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/routes"));
        return routes.RootElement.EnumerateArray().Single(r => r.GetProperty("id").GetString() == route).GetProperty("mirror").GetProperty("counts").Clone();
    }

    private static long Count(JsonElement counts, string name) => counts.GetProperty(name).GetInt64();

    [Fact]
    public async Task Mirror_CopyIsTheRequestThePrimaryUpstreamReceives_PlusMirrorMark()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ cluster: shadow }", _shadow.Endpoint));

        using var response = await gateway.Client.PostAsync("/orders/7?expand=items", new StringContent("{\"qty\":2}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello", await response.Content.ReadAsStringAsync());
        await Eventually.HoldsAsync(() => Task.FromResult(!_shadowReceived.IsEmpty), TimeSpan.FromSeconds(10), "the shadow receives the copy");
        var primary = Assert.Single(_primaryReceived);
        var shadow = Assert.Single(_shadowReceived);
        Assert.Equal(new Received("POST", "/7?expand=items", "{\"qty\":2}", "from-route", null, primary.Host), primary);
        Assert.Equal(primary with { MirrorMark = "true", Host = shadow.Host }, shadow);
        Assert.Equal(new Uri(_shadow.Endpoint).Authority, shadow.Host);
        await Eventually.HoldsAsync(async () => Count(await CountsAsync(gateway, "orders"), "sent") == 1, TimeSpan.FromSeconds(5), "the copy is counted as sent");
    }

    [Fact]
    public async Task Mirror_BodyAboveMaxBody_PrimaryGetsWholeBodyCopySkipped()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ cluster: shadow, maxBody: 1KiB }", _shadow.Endpoint));
        var large = new string('x', 5000);

        using var known = await gateway.Client.PostAsync("/orders/known", new StringContent(large));
        using var chunkedRequest = new HttpRequestMessage(HttpMethod.Post, "/orders/chunked") { Content = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(large))) };
        chunkedRequest.Headers.TransferEncodingChunked = true;
        using var unknownLength = await gateway.Client.SendAsync(chunkedRequest);
        using var small = await gateway.Client.PostAsync("/orders/small", new StringContent("tiny"));

        Assert.Equal(HttpStatusCode.OK, known.StatusCode);
        Assert.Equal(HttpStatusCode.OK, unknownLength.StatusCode);
        Assert.Equal([large, large, "tiny"], _primaryReceived.Select(r => r.Body));
        await Eventually.HoldsAsync(() => Task.FromResult(!_shadowReceived.IsEmpty), TimeSpan.FromSeconds(10), "the small body is copied");
        Assert.Equal("tiny", Assert.Single(_shadowReceived).Body);
        var counts = await CountsAsync(gateway, "orders");
        Assert.Equal(2, Count(counts, "skipped"));
    }

    [Fact]
    public async Task Mirror_Percent_ShadowGetsAboutItsShare()
    {
        await using var gateway = await TestGateway.StartAsync(Config("{ cluster: shadow, percent: 25 }", _shadow.Endpoint));

        var answers = await TrafficLoad.SendAsync(gateway, "/orders/1", 2000);

        Assert.Equal(2000, answers.GetValueOrDefault("primary"));
        await Eventually.HoldsAsync(async () =>
        {
            var counts = await CountsAsync(gateway, "orders");
            return Count(counts, "pending") == 0 && Count(counts, "sent") == _shadowReceived.Count;
        }, TimeSpan.FromSeconds(10), "every copy is sent and counted");
        TrafficLoad.AssertShare(_shadowReceived.Count, 2000, 0.25, "mirrored share");
    }

    [Fact]
    public async Task Mirror_SlowShadow_PrimaryLatencyUnchangedAndOverflowDropped()
    {
        await using var slow = await AnsweringAsync(200, "text/plain", "slow", delay: TimeSpan.FromSeconds(3));
        await using var gateway = await TestGateway.StartAsync(Config("{ cluster: shadow, queue: 20, timeout: 10s }", slow.Endpoint,
            extraRoutes: "  - { id: plain, match: { pathPrefix: /plain }, cluster: orders }"));
        await gateway.Client.GetAsync("/plain/warm");

        var plain = await TimeAsync(gateway, "/plain/1", 60);
        var mirrored = await TimeAsync(gateway, "/orders/1", 60);

        // Were a copy awaited, every mirrored request would take 3s; it must cost about what a plain one does.
        Assert.True(mirrored.Max() < TimeSpan.FromSeconds(1.5), $"slowest mirrored request took {mirrored.Max()}");
        Assert.True(Median(mirrored) < Median(plain) * 5 + TimeSpan.FromMilliseconds(50), $"median mirrored {Median(mirrored)}, plain {Median(plain)}");
        var counts = await CountsAsync(gateway, "orders");
        Assert.True(Count(counts, "dropped") >= 60 - 20 - MirrorSlack, $"dropped {Count(counts, "dropped")}");
        Assert.True(Count(counts, "pending") <= 20);
        await Eventually.HoldsAsync(async () =>
        {
            var settled = await CountsAsync(gateway, "orders");
            return Count(settled, "pending") == 0 && Count(settled, "dropped") + Count(settled, "sent") + Count(settled, "failed") == 60;
        }, TimeSpan.FromSeconds(20), "every copy is sent, failed or dropped, and counted once");
    }

    // Copies that finished (3s each) while the 60 requests were sent free queue places.
    private const int MirrorSlack = 20;

    [Fact]
    public async Task Mirror_DeadShadow_PrimaryUnaffectedFailuresCounted()
    {
        var deadPort = DebianServerBinary.FreePort();
        await using var gateway = await TestGateway.StartAsync(Config("{ cluster: shadow }", $"http://127.0.0.1:{deadPort}"));

        var answers = await TrafficLoad.SendAsync(gateway, "/orders/1", 50, workers: 4);

        Assert.Equal(50, answers.GetValueOrDefault("primary"));
        await Eventually.HoldsAsync(async () => Count(await CountsAsync(gateway, "orders"), "failed") == 50, TimeSpan.FromSeconds(10), "every copy to the dead shadow is counted as failed");
        Assert.Equal(0, Count(await CountsAsync(gateway, "orders"), "sent"));
    }

    [Fact]
    public async Task Compare_EqualStatusDifferentBodyDifferent_CountedPerField()
    {
        await using var same = await AnsweringAsync(200, "text/plain", "hello");
        await using var broken = await AnsweringAsync(500, "text/plain", "hello");
        await using var changed = await AnsweringAsync(200, "text/plain", "hellO");
        await using var retyped = await AnsweringAsync(200, "application/json", "hello");
        var routes = string.Join("\n", new[] { "same", "broken", "changed", "retyped" }.Select(id =>
            $"  - {{ id: {id}, match: {{ pathPrefix: /{id} }}, cluster: orders, mirror: {{ cluster: {id}, compare: true, compareHeaders: [content-type] }} }}"));
        var clusters = string.Join("\n", new[] { ("same", same), ("broken", broken), ("changed", changed), ("retyped", retyped) }.Select(c =>
            $"  - {{ id: {c.Item1}, endpoints: [\"{c.Item2.Endpoint}\"] }}"));
        await using var gateway = await TestGateway.StartAsync(Config("{ cluster: shadow }", _shadow.Endpoint, routes, clusters));

        foreach (var id in new[] { "same", "broken", "changed", "retyped" })
        {
            for (var i = 0; i < 5; i++)
            {
                using var response = await gateway.Client.GetAsync($"/{id}/item?i={i}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("hello", await response.Content.ReadAsStringAsync()); // the client always gets the primary's answer
            }
        }

        async Task<JsonElement> SettledAsync(string id)
        {
            JsonElement counts = default;
            await Eventually.HoldsAsync(async () =>
            {
                counts = await CountsAsync(gateway, id);
                return Count(counts, "comparedEqual") + Count(counts, "comparedDifferent") == 5;
            }, TimeSpan.FromSeconds(10), $"route {id}: all 5 answers compared");
            return counts;
        }

        var sameCounts = await SettledAsync("same");
        Assert.Equal(5, Count(sameCounts, "comparedEqual"));

        var brokenCounts = await SettledAsync("broken");
        Assert.Equal(5, Count(brokenCounts, "comparedDifferent"));
        Assert.Equal(5, brokenCounts.GetProperty("differences").GetProperty("status").GetInt64());
        Assert.Equal(0, brokenCounts.GetProperty("differences").GetProperty("body").GetInt64());

        var changedCounts = await SettledAsync("changed");
        Assert.Equal(5, changedCounts.GetProperty("differences").GetProperty("body").GetInt64());
        Assert.Equal(0, changedCounts.GetProperty("differences").GetProperty("status").GetInt64());
        Assert.Equal(0, changedCounts.GetProperty("differences").GetProperty("headers").GetInt64());

        var retypedCounts = await SettledAsync("retyped");
        Assert.Equal(5, retypedCounts.GetProperty("differences").GetProperty("headers").GetInt64());
        Assert.Equal(0, retypedCounts.GetProperty("differences").GetProperty("body").GetInt64());
    }

    private static async Task<List<TimeSpan>> TimeAsync(TestGateway gateway, string path, int count)
    {
        var times = new List<TimeSpan>();
        for (var i = 0; i < count; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            using var response = await gateway.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            times.Add(stopwatch.Elapsed);
        }
        return times;
    }

    private static TimeSpan Median(List<TimeSpan> times) => times.Order().ElementAt(times.Count / 2);
}
