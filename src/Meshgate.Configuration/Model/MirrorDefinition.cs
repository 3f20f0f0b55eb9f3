using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>Copies a share of a route's requests to a shadow cluster, fire and forget.</summary>
public sealed record MirrorDefinition
{
    [Description("Id of the shadow cluster that receives the copies; not a cluster the route forwards to.")]
    [Required]
    public string? Cluster { get; init; }

    [Description("Percentage of the route's requests copied, 0..100 (decimals allowed). Default 100.")]
    public double Percent { get; init; } = 100;

    [Description("Compare the shadow's answer with the primary's (status, compareHeaders, body hash) and count differences. Default false.")]
    public bool Compare { get; init; }

    [Description("With compare: response headers whose values must also be equal, e.g. [content-type]. Default none.")]
    public List<string>? CompareHeaders { get; init; }

    [Description("Largest request body copied; a request with a larger body is not mirrored (counted as skipped). Default 64KiB.")]
    public ByteSize MaxBody { get; init; } = new(64 * 1024);

    [Description("Copies waiting or in flight for this route, at most; beyond it copies are dropped (counted). Default 1000.")]
    public int Queue { get; init; } = 1000;

    [Description("How long a copy may take at the shadow before it is abandoned (counted as failed). Default 5s.")]
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
}
