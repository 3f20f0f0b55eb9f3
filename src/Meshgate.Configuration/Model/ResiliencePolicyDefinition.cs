using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>A named resilience policy (top-level <c>resilience</c>); routes refer to it with <c>resilience: name</c>.</summary>
public sealed record ResiliencePolicyDefinition
{
    [Description("Deadline for the whole request at the gateway: every attempt, retry wait and hedge. Expiry: 504 and the upstream request is cancelled. Absent: no deadline beyond the cluster's timeouts.")]
    public TimeSpan? Timeout { get; init; }

    [Description("Deadline for one attempt, until the upstream's response headers arrive. Expiry: the attempt is cancelled and counts as a timeout (retried when retries.on has timeout, gateway-error or 5xx; else 504). Must not exceed timeout.")]
    public TimeSpan? PerTryTimeout { get; init; }

    [Description("Retries of failed attempts.")]
    public RetryDefinition? Retries { get; init; }

    [Description("Hedging: after a delay without response headers, send a second attempt to another endpoint and take the first answer. Body-less idempotent requests (GET, HEAD, OPTIONS, DELETE) only.")]
    public HedgingDefinition? Hedging { get; init; }
}

public sealed record RetryDefinition
{
    [Description("Attempts in all, the first included: 1..10. Default 3 (two retries).")]
    public int Attempts { get; init; } = 3;

    [Description("When to retry: connect-failure, reset (connection lost before the response), timeout (perTryTimeout expired), gateway-error (502, 503, 504 from the upstream, and the three before), 5xx (any 5xx, and the three before). Default [connect-failure, reset, gateway-error].")]
    public List<string>? On { get; init; }

    [Description("Further upstream response statuses to retry, 100..599, e.g. [409].")]
    public List<int>? StatusCodes { get; init; }

    [Description("Also retry methods that are not idempotent (POST, PATCH). Default false: only GET, HEAD, OPTIONS, PUT, DELETE, TRACE are retried.")]
    public bool NonIdempotent { get; init; }

    [Description("Request bodies up to this size are kept in memory for replay; a larger body (or a body of unknown length that grows past it) is sent once, never retried. Default 64KiB; 0: requests with a body are never retried.")]
    public ByteSize MaxBufferedBody { get; init; } = new(64 * 1024);

    [Description("Wait before each retry: exponential with jitter.")]
    public BackoffDefinition Backoff { get; init; } = new();
}

public sealed record BackoffDefinition
{
    [Description("Wait before the first retry, doubled for each further one; each wait is drawn between half and all of it. Default 25ms; 0s: retry at once.")]
    public TimeSpan Base { get; init; } = TimeSpan.FromMilliseconds(25);

    [Description("Longest wait between attempts. Default 1s.")]
    public TimeSpan Max { get; init; } = TimeSpan.FromSeconds(1);
}

public sealed record HedgingDefinition
{
    [Description("How long the first attempt may go without response headers before a hedge is sent, e.g. 100ms.")]
    [Required]
    public TimeSpan? Delay { get; init; }

    [Description("Attempts in flight at most, the first included: 2..5. Default 2. Each further hedge waits another delay.")]
    public int MaxAttempts { get; init; } = 2;
}

/// <summary>Caps retries to the cluster so that they cannot multiply an outage.</summary>
public sealed record RetryBudgetDefinition
{
    [Description("Retries in flight to the cluster, as a percentage of its active requests (through routes with retries): 0..100. Default 20.")]
    public double Percent { get; init; } = 20;

    [Description("Retries in flight that are always allowed, whatever the percentage gives. Default 3.")]
    public int MinConcurrent { get; init; } = 3;
}
