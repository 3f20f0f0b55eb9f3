using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Upstream.Http1;

/// <summary>
/// The cluster's and destination's concurrency counters, which YARP's forwarder step counts around every
/// forward (least-requests and power-of-two-choices balancing and /admin/explain read the destination's).
/// YARP keeps the atomic counters internal (only a non-atomic setter is public), so they are reached the way
/// the runtime offers for this: unsafe accessors, bound once by the JIT, no reflection per request.
/// </summary>
internal static class YarpCounters
{
    private const string AtomicCounter = "Yarp.ReverseProxy.Utilities.AtomicCounter, Yarp.ReverseProxy";

    public static void Increment(ClusterState cluster, DestinationState destination)
    {
        Increment(ClusterCounter(cluster));
        Increment(DestinationCounter(destination));
    }

    public static void Decrement(ClusterState cluster, DestinationState destination)
    {
        Decrement(DestinationCounter(destination));
        Decrement(ClusterCounter(cluster));
    }

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_ConcurrencyCounter")]
    [return: UnsafeAccessorType(AtomicCounter)]
    private static extern object ClusterCounter(ClusterState cluster);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_ConcurrencyCounter")]
    [return: UnsafeAccessorType(AtomicCounter)]
    private static extern object DestinationCounter(DestinationState destination);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "Increment")]
    private static extern int Increment([UnsafeAccessorType(AtomicCounter)] object counter);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "Decrement")]
    private static extern int Decrement([UnsafeAccessorType(AtomicCounter)] object counter);
}
