using System.Diagnostics;
using System.Net.Http;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Resilience.Timeouts;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Resilience.Retries;

/// <summary>What an attempt says about the next one.</summary>
internal enum AttemptVerdict
{
    Done,
    Retry,
}

/// <summary>
/// One request's attempts at the upstream: each is a full run of the rest of YARP's pipeline (load
/// balancing, passive health, forwarder). Also a request feature, so the response transform can ask
/// whether an answer's status will be retried before its body reaches the client.
/// </summary>
internal sealed class RetryAttempt(HttpContext context, RequestDelegate next, ResiliencePolicy policy, RetryBudgets.ClusterBudget? budget, RetryBudgetPolicy budgetPolicy)
{
    private readonly CancellationToken _clientAborted = context.RequestAborted;
    private Deadline? _perTry;
    private List<DestinationState>? _tried;
    private bool _retryReserved;
    private bool _firstVerdictTaken;

    /// <summary>Attempts made so far.</summary>
    public int Number { get; private set; }

    /// <summary>The body is held for replay (or there is none) and the method may be retried.</summary>
    public bool Replayable { get; set; }

    /// <summary>Set when the budget refused a retry, for the log.</summary>
    public bool BudgetRefused { get; private set; }

    private bool MoreAttemptsAllowed => Replayable && policy.Retry is { } retry && Number < retry.Attempts;

    /// <summary>
    /// The retry loop's callback. The first attempt has already run outside the loop when the loop starts
    /// (see <see cref="ResilienceMiddleware"/>): its verdict is handed to the loop instead of running it again.
    /// </summary>
    public ValueTask<AttemptVerdict> ContinueAsync()
    {
        if (!_firstVerdictTaken && Number > 0)
        {
            _firstVerdictTaken = true;
            return ValueTask.FromResult(AttemptVerdict.Retry);
        }
        _firstVerdictTaken = true;
        return RunAsync();
    }

    // Pooled: the state machine of a request's attempt is reused by later requests instead of allocated per request.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<AttemptVerdict> RunAsync()
    {
        _retryReserved = false;
        Number++;
        var isRetry = Number > 1 && budget is not null;
        if (Number > 1) PrepareRetry();
        if (isRetry) budget!.RetryStarted();

        if (policy.PerTryTimeout is { } perTry)
        {
            _perTry = Deadline.Start(_clientAborted, perTry);
            context.RequestAborted = _perTry.Token;
        }
        bool timedOut;
        try
        {
            await next(context);
        }
        finally
        {
            if (isRetry) budget!.RetryEnded();
            timedOut = _perTry is { Expired: true };
            if (_perTry is not null)
            {
                context.RequestAborted = _clientAborted;
                _perTry.Return();
                _perTry = null;
            }
        }

        var verdict = Classify(timedOut);
        if (verdict == AttemptVerdict.Retry)
        {
            if (context.GetReverseProxyFeature().ProxiedDestination is { } destination) (_tried ??= []).Add(destination);
        }
        else if (timedOut && !context.Response.HasStarted)
        {
            UpstreamTimeout.Report(context);
        }
        return verdict;
    }

    /// <summary>Called by the response transform when response headers arrive, before any body is copied.</summary>
    /// <returns>Whether this answer will be retried, so its body must not reach the client.</returns>
    public bool OnResponseHeaders(int status)
    {
        // The per-try timeout covers the wait for response headers; the body streams under the cluster's activity timeout.
        _perTry?.DisableTimeout();
        return MoreAttemptsAllowed && policy.Retry!.RetriesStatus(status) && TryReserveRetry();
    }

    private AttemptVerdict Classify(bool timedOut)
    {
        if (context.Response.HasStarted) return AttemptVerdict.Done;
        if (context.Features.Get<IForwarderErrorFeature>() is not { } error)
        {
            // A retryable status: the response transform already decided (and checked the budget).
            return _retryReserved ? AttemptVerdict.Retry : AttemptVerdict.Done;
        }
        if (!MoreAttemptsAllowed || _clientAborted.IsCancellationRequested) return AttemptVerdict.Done;
        var cause = Cause(error.Error, error.Exception, timedOut);
        if (cause == RetryOn.None || (policy.Retry!.On & cause) == 0) return AttemptVerdict.Done;
        if (cause is RetryOn.ConnectFailure or RetryOn.Reset && FailsOver())
        {
            _retryReserved = true;
            return AttemptVerdict.Retry;
        }
        return TryReserveRetry() ? AttemptVerdict.Retry : AttemptVerdict.Done;
    }

    /// <summary>
    /// Whether this retry moves the request off an endpoint that outlier detection has just ejected (it reset or refused
    /// the connection) onto one it has not tried. Such a failover does not ask the retry budget: the budget keeps retries
    /// from multiplying the load on a cluster that is failing as a whole, but the requests an instance held when it died
    /// are that instance's share of the load, not extra load. They fail in a burst, and those sent to it before its
    /// ejection fail while the first retries are still in flight, so a budget sized for the cluster's concurrency would
    /// fail some of them. It stays bounded: a request fails over at most once per
    /// endpoint and never past its attempts, and outlier detection ejects no more than maxEjectionPercent of the
    /// cluster, so when most of it is failing the retries go back under the budget.
    /// </summary>
    private bool FailsOver()
    {
        if (context.GetReverseProxyFeature().ProxiedDestination is not { Health.Passive: DestinationHealth.Unhealthy } failed) return false;
        // Health.Passive is set at once by the ejection, the available list a moment later: skip the failed one either way.
        var available = context.GetRouteModel().Cluster?.DestinationsState.AvailableDestinations ?? [];
        foreach (var destination in available)
        {
            if (destination != failed && _tried?.Contains(destination) != true) return true;
        }
        return false;
    }

    private bool TryReserveRetry()
    {
        if (budget is not null && !budget.AllowsRetry(budgetPolicy))
        {
            BudgetRefused = true;
            return false;
        }
        _retryReserved = true;
        return true;
    }

    /// <summary>Which of a retry policy's failures a failed attempt is (None for one no policy retries).</summary>
    /// <param name="timedOut">The attempt's per-try timeout expired (the forwarder saw a cancellation).</param>
    internal static RetryOn Cause(ForwarderError error, Exception? exception, bool timedOut) => error switch
    {
        ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled when timedOut => RetryOn.Timeout,
        ForwarderError.RequestTimedOut => RetryOn.Timeout,
        ForwarderError.Request or ForwarderError.RequestCreation when IsConnectFailure(exception) => RetryOn.ConnectFailure,
        ForwarderError.Request or ForwarderError.ResponseHeaders or ForwarderError.ResponseBodyDestination or ForwarderError.RequestBodyDestination => RetryOn.Reset,
        _ => RetryOn.None,
    };

    private static bool IsConnectFailure(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError }) return true;
        }
        return false;
    }

    /// <summary>Forgets the failed attempt's response and steers the load balancer away from endpoints already tried.</summary>
    private void PrepareRetry()
    {
        context.Response.Clear();
        context.Features.Set<IForwarderErrorFeature>(null);
        RequestBodyReplay.Rewind(context);
        var feature = context.GetReverseProxyFeature();
        // The cluster's current list: an endpoint that passive health just ejected is already gone from it.
        var available = context.GetRouteModel().Cluster?.DestinationsState.AvailableDestinations ?? feature.AllDestinations;
        if (_tried is { Count: > 0 })
        {
            var untried = available.Where(d => !_tried.Contains(d)).ToList();
            feature.AvailableDestinations = untried.Count > 0 ? untried : available;
        }
        else
        {
            feature.AvailableDestinations = available;
        }
    }
}
