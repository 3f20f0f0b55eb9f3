namespace Meshgate.Proxy.Pipeline;

/// <summary>
/// Tag names the gateway adds to ASP.NET Core's <c>http.server.request.duration</c> (meter
/// <c>Microsoft.AspNetCore.Hosting</c>), so per-route figures come from the framework's own measurement
/// rather than a second timer of ours.
/// </summary>
public static class MetricsTags
{
    /// <summary>The id of the route that took the request; absent when none matched.</summary>
    public const string Route = "meshgate.route";

    /// <summary>
    /// The cluster the request went to (after a traffic split, the one it picked); a request refused before
    /// forwarding carries its route's cluster. Added by the observability step when the request completes,
    /// since a split decides it only after routing.
    /// </summary>
    public const string Cluster = "meshgate.cluster";
}
