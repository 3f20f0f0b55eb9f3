using Meshgate.Proxy.Pipeline;

namespace Meshgate.Proxy.Resilience.Hedging;

/// <summary>
/// What the hedging handler needs for one upstream request, carried in <see cref="HttpRequestMessage.Options"/>:
/// when to hedge, how many attempts at most, and the other endpoints to send hedges to.
/// </summary>
internal sealed class HedgingPlan(TimeSpan delay, int maxAttempts, string destinationPrefix, IReadOnlyList<string> alternatives, RequestRecord? record)
{
    public static readonly HttpRequestOptionsKey<HedgingPlan> Key = new("meshgate.hedging");

    public TimeSpan Delay { get; } = delay;
    public int MaxAttempts { get; } = maxAttempts;

    /// <summary>The address of the endpoint the load balancer chose; the request URI starts with it.</summary>
    public string DestinationPrefix { get; } = destinationPrefix;

    /// <summary>Addresses of the cluster's other available endpoints, in the order hedges go to them.</summary>
    public IReadOnlyList<string> Alternatives { get; } = alternatives;

    public RequestRecord? Record { get; } = record;
}
