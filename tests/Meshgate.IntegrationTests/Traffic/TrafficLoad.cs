using System.Collections.Concurrent;
using System.Net;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Traffic;

/// <summary>Bounded concurrent load for the traffic tests: counts which upstream answered and every failure.</summary>
internal static class TrafficLoad
{
    /// <summary>Sends <paramref name="total"/> GETs over <paramref name="workers"/> connections; returns answers by upstream name ("status N" otherwise).</summary>
    public static async Task<ConcurrentDictionary<string, int>> SendAsync(TestGateway gateway, string path, int total, int workers = 8, Action<HttpRequestMessage, int>? setup = null)
    {
        var answers = new ConcurrentDictionary<string, int>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                setup?.Invoke(request, i);
                using var response = await gateway.Client.SendAsync(request);
                var name = response.StatusCode == HttpStatusCode.OK && response.Headers.TryGetValues("x-upstream", out var values) ? values.Single() : $"status {(int)response.StatusCode}";
                answers.AddOrUpdate(name, 1, (_, n) => n + 1);
            }
        }));
        return answers;
    }

    /// <summary>Asserts <paramref name="count"/> of <paramref name="total"/> is within 5 standard deviations of the binomial mean.</summary>
    public static void AssertShare(int count, int total, double share, string what)
    {
        var mean = total * share;
        var bound = 5 * Math.Sqrt(total * share * (1 - share));
        Assert.True(Math.Abs(count - mean) <= bound, $"{what}: {count} of {total}, expected {mean:0} ± {bound:0}");
    }
}
