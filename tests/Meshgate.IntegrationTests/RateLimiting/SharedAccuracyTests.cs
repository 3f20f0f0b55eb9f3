using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.RateLimiting;

/// <summary>Three real gateway processes share one limit through one Redis: together they allow the limit, within 2%.</summary>
[Trait("Runs", "meshgate")]
public sealed class SharedAccuracyTests
{
    private const int Limit = 300;

    [Fact]
    public async Task ThreeProcesses_SharedTokenBucket_TotalAllowedWithinTwoPercentOfLimit()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var redis = await RedisServer.StartAsync();
        var directory = TempDirectory.Create();
        var config = Path.Combine(directory, "meshgate.yaml");
        // A token bucket has no window edge to straddle; over an hour-long window the refill during the test is
        // well under one request. deny on store failure, so a slow Redis can only lower the total, and is counted.
        await File.WriteAllTextAsync(config, $$"""
            listeners: [{ name: public, address: 127.0.0.1:0 }]
            admin: { address: 127.0.0.1:0 }
            logging: { level: info }
            stores:
              redis: { connection: "{{redis.Connection}}", timeout: 2s }
            rateLimits:
              everyone: { algorithm: token-bucket, limit: {{Limit}}, window: 1h, key: route, scope: shared, onStoreFailure: deny }
            routes:
              - { id: limited, match: { pathPrefix: /limited }, cluster: backend, rateLimit: everyone }
            clusters:
              - { id: backend, endpoints: ["{{upstream.Endpoint}}"] }
            """);

        var processes = Enumerable.Range(0, 3).Select(_ => MeshgateProcess.Start("gateway", "-c", config)).ToList();
        try
        {
            var clients = new List<HttpClient>();
            foreach (var process in processes) clients.Add(new HttpClient { BaseAddress = (await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(60)))[0], Timeout = TimeSpan.FromSeconds(30) });

            // 2 × the limit, from 4 concurrent senders per process, all at once.
            var statuses = await Task.WhenAll(clients.SelectMany(client => Enumerable.Range(0, 4).Select(async _ =>
            {
                var mine = new List<HttpStatusCode>();
                for (var i = 0; i < Limit * 2 / 12; i++)
                {
                    using var response = await client.GetAsync("/limited");
                    mine.Add(response.StatusCode);
                }
                return mine;
            })));
            var all = statuses.SelectMany(s => s).ToList();
            var allowed = all.Count(s => s == HttpStatusCode.OK);
            var unavailable = all.Count(s => s == HttpStatusCode.ServiceUnavailable);

            Assert.True(Math.Abs(allowed - Limit) <= Limit * 0.02, $"allowed {allowed} of a shared limit of {Limit} ({unavailable} store failures)");
            // Any other answer is a defect; say which process gave it and what it logged (once, under Native AOT, a whole
            // process's 200 requests answered neither, and the bare count did not say what they were).
            var other = statuses.Select((mine, sender) => (process: sender / 4, odd: mine.Where(s => s is not (HttpStatusCode.OK or HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable)).ToList())).Where(p => p.odd.Count > 0).ToList();
            Assert.True(other.Count == 0, string.Join("\n", other.Select(p => $"process {p.process}: {string.Join(", ", p.odd.GroupBy(s => s).Select(g => $"{g.Count()} x {(int)g.Key}"))}\n--- its output ---\n{processes[p.process].Output}")));
            Assert.Equal(allowed, upstream.Requests);
            foreach (var client in clients) client.Dispose();
        }
        finally
        {
            foreach (var process in processes) await process.DisposeAsync();
        }
    }
}
