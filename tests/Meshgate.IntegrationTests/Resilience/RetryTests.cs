using System.Diagnostics;
using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Resilience;

/// <summary>Retries through the real gateway against real upstreams that fail in the ways the retry conditions name.</summary>
public sealed class RetryTests
{
    private static Task<TestGateway> GatewayAsync(string policy, params FaultyUpstream[] upstreams) => GatewayAsync(policy, "", upstreams);

    private static Task<TestGateway> GatewayAsync(string policy, string clusterExtra, params FaultyUpstream[] upstreams) => TestGateway.StartAsync($$"""
        resilience:
          p: {{policy}}
        routes:
          - { id: all, match: { path: "/{**rest}" }, cluster: pool, resilience: p }
        clusters:
          - id: pool
            endpoints: [{{string.Join(", ", upstreams.Select(u => $"\"{u.Endpoint}\""))}}]
        {{clusterExtra}}
        """);

    // At the kill, every request in flight to the endpoint fails at once: a budget whose floor covers the
    // client's concurrency lets all of them retry, and passive health then takes the endpoint out.
    [Fact]
    public async Task Retries_EndpointKilledDuringLoad_NoClientVisibleErrors()
    {
        await using var a = await FaultyUpstream.StartAsync("a");
        var b = await FaultyUpstream.StartAsync("b");
        await using var c = await FaultyUpstream.StartAsync("c");
        await using var gateway = await GatewayAsync("{ retries: { attempts: 3, backoff: { base: 1ms, max: 10ms } } }", """
                outlierDetection: { consecutiveGatewayErrors: 3, baseEjectionTime: 30s }
                retryBudget: { minConcurrent: 8 }
            """, a, b, c);

        var completed = 0;
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var killed = Task.Run(async () =>
        {
            while (Volatile.Read(ref completed) < 150) await Task.Delay(5);
            await b.DisposeAsync();
        });
        await Parallel.ForEachAsync(Enumerable.Range(0, 600), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, _) =>
        {
            try
            {
                using var response = await gateway.Client.GetAsync("/orders");
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK) failures.Add($"{(int)response.StatusCode} {body[(body.IndexOf("mid-request", StringComparison.Ordinal))..]}");
            }
            catch (HttpRequestException e)
            {
                failures.Add(e.Message);
            }
            Interlocked.Increment(ref completed);
        });
        await killed;

        Assert.Empty(failures);
        Assert.True(b.Requests > 0 && a.Requests > 0 && c.Requests > 0, $"a {a.Requests}, b {b.Requests}, c {c.Requests}");
        Assert.Equal(600, a.Requests + b.Requests + c.Requests);
    }

    // An endpoint that dies fails every request sent to it, one after another. The first failure ejects it; each
    // request fails over to the other endpoint, though one retry in flight already fills the budget: moving a dead
    // endpoint's requests elsewhere adds no load to the cluster.
    [Fact]
    public async Task Retries_EjectedEndpointsRequests_AllFailOverPastAFullBudget()
    {
        await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.Slow);
        await using var b = await FaultyUpstream.StartAsync("b", UpstreamFault.Slow);
        // b answers after a second, so the first retry is still in flight when the later requests fail.
        b.Delay = TimeSpan.FromSeconds(1);
        await using var gateway = await GatewayAsync("{ retries: { attempts: 2, on: [reset], backoff: { base: 1ms, max: 1ms } } }", """
                outlierDetection: { consecutiveGatewayErrors: 1, baseEjectionTime: 30s }
                retryBudget: { percent: 10, minConcurrent: 1 }
            """, a, b);

        var calls = Enumerable.Range(0, 12).Select(async _ =>
        {
            using var response = await gateway.Client.GetAsync("/x");
            return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
        }).ToList();
        // Round robin: half of the requests are held by a.
        await Eventually.HoldsAsync(() => Task.FromResult(a.Active == 6), TimeSpan.FromSeconds(10), "a never held its six requests");
        while (a.DropHeldRequest()) await Task.Delay(50);
        var answers = await Task.WhenAll(calls);

        Assert.All(answers, answer => Assert.Equal("200 b", answer));
        Assert.Equal(12, b.Requests);
    }

    [Fact]
    public async Task Retries_ResetBeforeHeaders_RetriedOnAnotherEndpoint()
    {
        await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.ResetBeforeHeaders);
        await using var b = await FaultyUpstream.StartAsync("b");
        await using var gateway = await GatewayAsync("{ retries: { attempts: 2, on: [reset], backoff: { base: 1ms } } }", a, b);

        for (var i = 0; i < 6; i++)
        {
            using var response = await gateway.Client.GetAsync("/x");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("b", await response.Content.ReadAsStringAsync());
        }
        Assert.True(a.Requests >= 1, "some first attempts went to a");
        Assert.Equal(6, b.Requests);
    }

    [Fact]
    public async Task Retries_ConnectionResetMidResponse_NotRetriedAndClientSeesBrokenResponse()
    {
        await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.ResetMidBody);
        await using var b = await FaultyUpstream.StartAsync("b");
        await using var gateway = await GatewayAsync("{ retries: { attempts: 3, on: [5xx], backoff: { base: 1ms } } }", a, b);

        var broken = 0;
        for (var i = 0; i < 4; i++)
        {
            try
            {
                using var response = await gateway.Client.GetAsync("/x");
                Assert.Equal("b", await response.Content.ReadAsStringAsync());
            }
            catch (HttpRequestException)
            {
                broken++;
            }
        }
        // The body had started to reach the client: a retry would splice two answers, so the client sees the break.
        Assert.Equal(2, broken);
        Assert.Equal(2, a.Requests);
        Assert.Equal(2, b.Requests);
    }

    [Fact]
    public async Task Retries_SlowEndpoint_PerTryTimeoutThenSuccessOnAnother()
    {
        await using var slow = await FaultyUpstream.StartAsync("slow", UpstreamFault.Slow);
        await using var fast = await FaultyUpstream.StartAsync("fast");
        await using var gateway = await GatewayAsync("{ perTryTimeout: 1s, retries: { attempts: 2, on: [timeout], backoff: { base: 1ms } } }", slow, fast);

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 4; i++)
        {
            using var response = await gateway.Client.GetAsync("/x");
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {body}");
            Assert.Equal("fast", body);
        }
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"took {watch.Elapsed}");
        Assert.True(slow.Requests >= 1);
        await Eventually.HoldsAsync(() => Task.FromResult(slow.Aborted == slow.Requests), TimeSpan.FromSeconds(5), "every timed-out attempt is cancelled at the upstream");
    }

    [Fact]
    public async Task Retries_Post_NotRetriedByDefault_GetIs()
    {
        await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.Status);
        await using var gateway = await GatewayAsync("{ retries: { attempts: 3, backoff: { base: 1ms } } }", a);

        using var post = await gateway.Client.PostAsync("/orders", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, post.StatusCode);
        Assert.Equal(1, a.Requests);

        using var get = await gateway.Client.GetAsync("/orders");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, get.StatusCode);
        Assert.Equal("a failed", await get.Content.ReadAsStringAsync());
        Assert.Equal(4, a.Requests);
    }

    [Fact]
    public async Task Retries_PostWithNonIdempotent_Retried()
    {
        await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.Status);
        await using var gateway = await GatewayAsync("{ retries: { attempts: 3, nonIdempotent: true, backoff: { base: 1ms } } }", a);

        using var post = await gateway.Client.PostAsync("/orders", new StringContent("{\"n\":1}"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, post.StatusCode);
        Assert.Equal(3, a.Requests);
        Assert.Equal(["{\"n\":1}", "{\"n\":1}", "{\"n\":1}"], a.Bodies.ToArray());
    }

    [Fact]
    public async Task Retries_ListedStatus_RetriedWithoutLeakingTheFirstAnswer()
    {
        await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.Status);
        a.Status = 409;
        await using var b = await FaultyUpstream.StartAsync("b");
        await using var gateway = await GatewayAsync("{ retries: { attempts: 2, on: [], statusCodes: [409], backoff: { base: 1ms } } }", a, b);

        for (var i = 0; i < 4; i++)
        {
            using var response = await gateway.Client.GetAsync("/x");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("b", await response.Content.ReadAsStringAsync());
            Assert.Equal("b", response.Headers.GetValues("x-upstream").Single());
        }
        Assert.Equal(2, a.Requests);

        // A status not listed is the answer as it is.
        a.Status = 503;
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 2; i++)
        {
            using var response = await gateway.Client.GetAsync("/x");
            statuses.Add(response.StatusCode);
        }
        Assert.Contains(HttpStatusCode.ServiceUnavailable, statuses);
    }

    [Fact]
    public async Task Retries_LastAttemptFails_ClientGetsTheUpstreamAnswer()
    {
        await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.Status);
        a.Status = 409;
        await using var gateway = await GatewayAsync("{ retries: { attempts: 3, statusCodes: [409], backoff: { base: 1ms } } }", a);

        using var response = await gateway.Client.GetAsync("/x");
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("a failed", await response.Content.ReadAsStringAsync());
        Assert.Equal(3, a.Requests);
    }

    [Fact]
    public async Task Retries_BodyWithinLimit_ReplayedOnRetry()
    {
        await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.ResetBeforeHeaders);
        await using var b = await FaultyUpstream.StartAsync("b");
        await using var gateway = await GatewayAsync("{ retries: { attempts: 2, maxBufferedBody: 4KiB, backoff: { base: 1ms } } }", a, b);
        var body = new string('p', 3000);

        for (var i = 0; i < 2; i++)
        {
            using var put = await gateway.Client.PutAsync("/x", new StringContent(body));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }
        // Unknown length (chunked), within the limit.
        using var chunked = await gateway.Client.PutAsync("/x", new StreamContent(new NonSeekableStream(System.Text.Encoding.UTF8.GetBytes(body))));
        Assert.Equal(HttpStatusCode.OK, chunked.StatusCode);

        Assert.Equal(3, b.Requests);
        Assert.All(b.Bodies, received => Assert.Equal(body, received));
    }

    [Fact]
    public async Task Retries_BodyBeyondLimit_SentOnceNeverRetried()
    {
        await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.ResetBeforeHeaders);
        await using var b = await FaultyUpstream.StartAsync("b");
        await using var gateway = await GatewayAsync("{ retries: { attempts: 3, maxBufferedBody: 1KiB, backoff: { base: 1ms } } }", a, b);
        var body = new string('q', 5000);

        var statuses = new List<int>();
        for (var i = 0; i < 2; i++)
        {
            using var put = await gateway.Client.PutAsync("/x", new StringContent(body));
            statuses.Add((int)put.StatusCode);
        }
        for (var i = 0; i < 2; i++)
        {
            using var chunked = await gateway.Client.PutAsync("/x", new StreamContent(new NonSeekableStream(System.Text.Encoding.UTF8.GetBytes(body))));
            statuses.Add((int)chunked.StatusCode);
        }
        Assert.Equal([200, 200, 502, 502], statuses.Order());
        Assert.Equal(2, a.Requests);
        Assert.Equal(2, b.Requests);
        Assert.All(b.Bodies, received => Assert.Equal(body, received));
    }

    [Fact]
    public async Task Retries_EachRetry_GoesToAnotherEndpoint()
    {
        var upstreams = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => FaultyUpstream.StartAsync($"u{i}", UpstreamFault.Status)));
        await using var gateway = await GatewayAsync("{ retries: { attempts: 3, backoff: { base: 1ms } } }", upstreams);

        for (var round = 1; round <= 3; round++)
        {
            using var response = await gateway.Client.GetAsync("/x");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.All(upstreams, u => Assert.Equal(round, u.Requests));
        }
        foreach (var upstream in upstreams) await upstream.DisposeAsync();
    }

    [Fact]
    public async Task Retries_Backoff_WaitsBetweenAttempts()
    {
        await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.Status);
        await using var gateway = await GatewayAsync("{ retries: { attempts: 3, backoff: { base: 200ms, max: 1s } } }", a);

        var watch = Stopwatch.StartNew();
        using var response = await gateway.Client.GetAsync("/x");
        watch.Stop();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(3, a.Requests);
        // Equal jitter: the waits are at least 100ms and 200ms; at most 200ms and 400ms (plus slack).
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task RetryBudget_ClusterWideFailure_CapsAmplification()
    {
        async Task<int> UpstreamRequestsAsync(string budget)
        {
            await using var a = await FaultyUpstream.StartAsync("a", UpstreamFault.Status);
            a.StatusDelay = TimeSpan.FromMilliseconds(300);
            await using var gateway = await GatewayAsync("{ retries: { attempts: 3, backoff: { base: 1ms } } }", $"    retryBudget: {budget}", a);
            var statuses = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
            {
                using var response = await gateway.Client.GetAsync("/x");
                return response.StatusCode;
            }));
            Assert.All(statuses, s => Assert.Equal(HttpStatusCode.ServiceUnavailable, s));
            return a.Requests;
        }

        var unlimited = await UpstreamRequestsAsync("{ percent: 100, minConcurrent: 100 }");
        var budgeted = await UpstreamRequestsAsync("{ percent: 10, minConcurrent: 1 }");
        Assert.Equal(60, unlimited);
        Assert.InRange(budgeted, 20, 30);
    }

    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
