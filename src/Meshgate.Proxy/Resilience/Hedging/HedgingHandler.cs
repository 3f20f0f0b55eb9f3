using System.Diagnostics;

namespace Meshgate.Proxy.Resilience.Hedging;

/// <summary>
/// Sends a hedge when an upstream request has gone <see cref="HedgingPlan.Delay"/> without response headers:
/// the same request to another endpoint, while the first keeps going. The first response wins; every other
/// attempt is cancelled (the upstream sees its request aborted) and its response, should one still come, disposed.
/// An attempt that fails outright (connection refused) does not win while another is in flight.
/// Installed only on the HTTP clients of clusters that a hedging route targets.
/// </summary>
/// <remarks>
/// Not Polly's hedging strategy: it links each attempt's cancellation to the execution and ends it when the
/// execution returns, but the forwarder keeps streaming the winner's body after this handler returns.
/// </remarks>
internal sealed class HedgingHandler(HttpMessageHandler inner, TimeProvider time) : DelegatingHandler(inner)
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        request.Options.TryGetValue(HedgingPlan.Key, out var plan) ? SendHedgedAsync(request, plan, cancellationToken) : base.SendAsync(request, cancellationToken);

    private async Task<HttpResponseMessage> SendHedgedAsync(HttpRequestMessage request, HedgingPlan plan, CancellationToken cancellationToken)
    {
        // The hedges are copied before the first attempt starts: the HTTP stack reads (and lazily parses)
        // the original's headers while it is sent, and HttpHeaders is not safe to read from two threads.
        var hedges = plan.Alternatives.Take(plan.MaxAttempts - 1).Select(alternative => Clone(request, plan, alternative)).ToList();
        var attempts = new List<Attempt> { Start(request, null) };
        var alternatives = 0;
        Attempt? winner = null;
        try
        {
            using var stopHedging = new CancellationTokenSource();
            // The caller's cancellation (client gone, deadline) cancels every attempt; the list is locked
            // because a hedge may be added while the callback runs on another thread.
            using var _ = cancellationToken.Register(static state =>
            {
                var list = (List<Attempt>)state!;
                lock (list) list.ForEach(a => a.Cancel());
            }, attempts);
            while (true)
            {
                List<Task> pending;
                lock (attempts)
                {
                    // Checked before anything else on every turn: an attempt may have answered while the delay fired or
                    // before the first turn (a pooled connection answers fast). Without this, "nothing pending" looked
                    // like "all failed", a hedge went out at once, and the answer waited for it.
                    winner = attempts.FirstOrDefault(a => a.Task.IsCompletedSuccessfully);
                    if (winner is not null) break;
                    pending = attempts.Where(a => !a.Task.IsCompleted).Select(a => (Task)a.Task).ToList();
                }
                var canHedge = alternatives < hedges.Count && !cancellationToken.IsCancellationRequested;
                if (pending.Count == 0 && !canHedge) break;
                Task? delay = null;
                if (canHedge)
                {
                    // With every attempt already failed, the next hedge goes at once.
                    delay = pending.Count == 0 ? Task.CompletedTask : Task.Delay(plan.Delay, time, stopHedging.Token);
                    pending.Add(delay);
                }
                var completed = await Task.WhenAny(pending);
                if (completed == delay)
                {
                    lock (attempts)
                    {
                        // An attempt that answered as the delay ended wins; no hedge for it.
                        if (attempts.Any(a => a.Task.IsCompletedSuccessfully)) continue;
                    }
                    var hedge = Start(hedges[alternatives++], plan);
                    lock (attempts) attempts.Add(hedge);
                }
            }
            stopHedging.Cancel();
        }
        finally
        {
            lock (attempts)
            {
                foreach (var attempt in attempts)
                {
                    if (attempt != winner) attempt.Abandon();
                }
            }
            for (var unsent = alternatives; unsent < hedges.Count; unsent++) hedges[unsent].Dispose();
        }
        // All failed: the first attempt's failure is the answer, as without hedging.
        return winner is not null ? await winner.Task : await attempts[0].Task;
    }

    private Attempt Start(HttpRequestMessage request, HedgingPlan? hedge)
    {
        var cancellation = new CancellationTokenSource();
        var started = Stopwatch.GetTimestamp();
        var task = base.SendAsync(request, cancellation.Token);
        if (hedge?.Record is { } record)
        {
            // The first attempt is counted around the forwarder (UpstreamAttempts); a hedge counts when it ends.
            _ = task.ContinueWith(static (_, s) => { var (r, t) = ((Pipeline.RequestRecord, long))s!; r.AddAttempt(Stopwatch.GetTimestamp() - t); },
                (record, started), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return new Attempt(task, cancellation, hedge is null ? null : request);
    }

    private static HttpRequestMessage Clone(HttpRequestMessage request, HedgingPlan plan, string alternative)
    {
        var uri = request.RequestUri!.OriginalString;
        var rest = uri.StartsWith(plan.DestinationPrefix.TrimEnd('/'), StringComparison.OrdinalIgnoreCase) ? uri[plan.DestinationPrefix.TrimEnd('/').Length..] : request.RequestUri.PathAndQuery;
        var clone = new HttpRequestMessage(request.Method, new Uri(alternative.TrimEnd('/') + rest))
        {
            Version = request.Version,
            VersionPolicy = request.VersionPolicy,
        };
        foreach (var header in request.Headers) clone.Headers.TryAddWithoutValidation(header.Key, header.Value);
        return clone;
    }

    private sealed class Attempt(Task<HttpResponseMessage> task, CancellationTokenSource cancellation, HttpRequestMessage? ownRequest)
    {
        public Task<HttpResponseMessage> Task { get; } = task;

        public void Cancel()
        {
            try { cancellation.Cancel(); } catch (ObjectDisposedException) { }
        }

        /// <summary>Cancels a losing attempt and disposes whatever it still produces.</summary>
        public void Abandon()
        {
            Cancel();
            _ = Task.ContinueWith(static (t, s) =>
            {
                if (t.IsCompletedSuccessfully) t.Result.Dispose();
                else _ = t.Exception; // observed: a cancelled loser is expected
                var (c, r) = ((CancellationTokenSource, HttpRequestMessage?))s!;
                c.Dispose();
                r?.Dispose();
            }, (cancellation, ownRequest), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, System.Threading.Tasks.TaskScheduler.Default);
        }
    }
}
