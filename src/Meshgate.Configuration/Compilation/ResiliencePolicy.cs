namespace Meshgate.Configuration.Compilation;

/// <summary>A compiled resilience policy: what the retry step, the request timeout and the hedging handler enforce.</summary>
/// <param name="Timeout">Whole-request deadline, enforced by the request-deadline step (slot 8).</param>
/// <param name="PerTryTimeout">Deadline for one attempt until its response headers.</param>
public sealed record ResiliencePolicy(string Name, TimeSpan? Timeout, TimeSpan? PerTryTimeout, RetryPolicy? Retry, HedgingPolicy? Hedging);

/// <summary>The failures a retry policy retries.</summary>
[Flags]
public enum RetryOn
{
    None = 0,
    ConnectFailure = 1,
    Reset = 2,
    Timeout = 4,
    /// <summary>502, 503, 504 from the upstream.</summary>
    GatewayStatus = 8,
    /// <summary>Any 5xx from the upstream.</summary>
    ServerErrorStatus = 16,
}

public sealed class RetryPolicy
{
    private readonly bool[] _statuses = new bool[600];

    public RetryPolicy(int attempts, RetryOn on, IEnumerable<int> statusCodes, bool nonIdempotent, long maxBufferedBody, TimeSpan backoffBase, TimeSpan backoffMax)
    {
        Attempts = attempts;
        On = on;
        NonIdempotent = nonIdempotent;
        MaxBufferedBody = maxBufferedBody;
        BackoffBase = backoffBase;
        BackoffMax = backoffMax;
        foreach (var code in statusCodes) _statuses[code] = true;
        if ((on & RetryOn.GatewayStatus) != 0) _statuses[502] = _statuses[503] = _statuses[504] = true;
        if ((on & RetryOn.ServerErrorStatus) != 0) Array.Fill(_statuses, true, 500, 100);
    }

    /// <summary>Attempts in all, the first included.</summary>
    public int Attempts { get; }
    public RetryOn On { get; }
    public bool NonIdempotent { get; }
    public long MaxBufferedBody { get; }
    public TimeSpan BackoffBase { get; }
    public TimeSpan BackoffMax { get; }

    /// <summary>Whether an upstream answer with this status is retried.</summary>
    public bool RetriesStatus(int status) => (uint)status < (uint)_statuses.Length && _statuses[status];
}

/// <param name="MaxAttempts">Attempts in flight at most, the first included.</param>
public sealed record HedgingPolicy(TimeSpan Delay, int MaxAttempts);

/// <summary>Retries in flight to a cluster may be at most max(<paramref name="MinConcurrent"/>, <paramref name="Percent"/>% of active requests).</summary>
public sealed record RetryBudgetPolicy(double Percent, int MinConcurrent)
{
    public static readonly RetryBudgetPolicy Default = new(20, 3);
}
