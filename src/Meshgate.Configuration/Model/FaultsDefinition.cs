using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>Faults a route injects, for chaos testing.</summary>
public sealed record FaultsDefinition
{
    [Description("Answer with a status instead of forwarding, for a percentage of requests.")]
    public AbortFaultDefinition? Abort { get; init; }

    [Description("Hold the request for a while before forwarding, for a percentage of requests.")]
    public DelayFaultDefinition? Delay { get; init; }

    [Description("Only requests carrying this header (any value) are eligible for faults. Absent: every request is.")]
    public string? Header { get; init; }
}

public sealed record AbortFaultDefinition
{
    [Description("Status of the injected answer, 200..599 (e.g. 503). A problem+json body says it was injected.")]
    [Required]
    public int? Status { get; init; }

    [Description("Percentage of eligible requests aborted, 0..100 (decimals allowed). Default 100.")]
    public double Percent { get; init; } = 100;
}

public sealed record DelayFaultDefinition
{
    [Description("How long to hold the request, e.g. 2s.")]
    [Required]
    public TimeSpan? Duration { get; init; }

    [Description("Percentage of eligible requests delayed, 0..100 (decimals allowed). Default 100.")]
    public double Percent { get; init; } = 100;
}
