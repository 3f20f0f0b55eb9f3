using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>One share of a route's <c>split</c>: a cluster and its relative weight.</summary>
public sealed record SplitTargetDefinition
{
    [Description("Id of the cluster that receives this share.")]
    [Required]
    public string? Cluster { get; init; }

    [Description("Relative share of the route's requests, 0..1000000 (90 and 10 give 90% and 10%). 0 sends it nothing except through splitOverride. Default 1.")]
    public int Weight { get; init; } = 1;
}

/// <summary>What makes a route's split sticky: requests with the same value go to the same cluster.</summary>
public sealed record SplitByDefinition
{
    [Description("Hash this request header's value onto the weights. Exactly one of header, cookie.")]
    public string? Header { get; init; }

    [Description("Hash this cookie's value onto the weights. Exactly one of header, cookie.")]
    public string? Cookie { get; init; }
}

/// <summary>A request header that forces a split's cluster, whatever the weights say.</summary>
public sealed record SplitOverrideDefinition
{
    [Description("Request header to read, e.g. x-canary.")]
    [Required]
    public string? Header { get; init; }

    [Description("Header value (case-insensitive) -> cluster of the split it forces, e.g. { always: orders-v2, never: orders }. Other values are ignored.")]
    [Required]
    public Dictionary<string, string>? Values { get; init; }
}
