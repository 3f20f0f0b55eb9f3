using System.Net;
using Meshgate.Proxy.Resilience.Hedging;

namespace Meshgate.Proxy.Tests.Resilience.Hedging;

/// <summary>
/// The handler's decisions, with an inner handler that answers at once for one endpoint and holds the other until
/// cancelled. The hedging integration tests cover the same over real upstreams; these make the races deterministic.
/// </summary>
public sealed class HedgingHandlerTests
{
    private const string First = "http://first.test";
    private const string Other = "http://other.test";

    /// <summary>Answers requests to <see cref="First"/> at once (synchronously) and holds every other one until it is cancelled.</summary>
    private sealed class Endpoints : HttpMessageHandler
    {
        public List<string> Seen { get; } = [];
        public int Cancelled;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (Seen) Seen.Add(request.RequestUri!.GetLeftPart(UriPartial.Authority));
            if (request.RequestUri!.GetLeftPart(UriPartial.Authority) == First)
            {
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("first") });
            }
            var held = new TaskCompletionSource<HttpResponseMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
            cancellationToken.Register(() =>
            {
                Interlocked.Increment(ref Cancelled);
                held.TrySetCanceled(cancellationToken);
            });
            return held.Task;
        }
    }

    private static HttpRequestMessage Request(TimeSpan delay)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, First + "/x?q=1");
        request.Options.Set(HedgingPlan.Key, new HedgingPlan(delay, 2, First + "/", [Other], record: null));
        return request;
    }

    [Fact]
    public async Task FirstAttemptAnsweredBeforeTheFirstTurn_NoHedgeIsSent()
    {
        var endpoints = new Endpoints();
        using var invoker = new HttpMessageInvoker(new HedgingHandler(endpoints, TimeProvider.System));

        // A hedge sent here would be held until cancelled: before the fix it was sent at once and the answer
        // waited for it (in the integration test, the slow endpoint's 30 s).
        using var response = await invoker.SendAsync(Request(TimeSpan.FromSeconds(30)), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("first", await response.Content.ReadAsStringAsync());
        Assert.Equal([First], endpoints.Seen);
    }

    [Fact]
    public async Task FirstAttemptHeld_HedgeAfterTheDelayWinsAndTheFirstIsCancelled()
    {
        var endpoints = new Endpoints();
        using var invoker = new HttpMessageInvoker(new HedgingHandler(endpoints, TimeProvider.System));
        // Here the first attempt goes to the endpoint that holds, and the hedge to the one that answers.
        var request = new HttpRequestMessage(HttpMethod.Get, Other + "/x");
        request.Options.Set(HedgingPlan.Key, new HedgingPlan(TimeSpan.FromMilliseconds(50), 2, Other + "/", [First], record: null));

        using var response = await invoker.SendAsync(request, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("first", await response.Content.ReadAsStringAsync());
        Assert.Equal([Other, First], endpoints.Seen);
        Assert.Equal(1, Volatile.Read(ref endpoints.Cancelled));
    }
}
