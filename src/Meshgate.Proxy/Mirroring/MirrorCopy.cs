using Meshgate.Configuration.Compilation;

namespace Meshgate.Proxy.Mirroring;

/// <summary>One request copy on its way to the shadow cluster.</summary>
internal sealed class MirrorCopy(HttpRequestMessage message, HttpMessageInvoker invoker, MirrorPolicy policy, MirrorRouteCounts counts)
{
    public HttpRequestMessage Message { get; } = message;

    /// <summary>The shadow cluster's own client (its TLS, timeouts and HTTP version), as YARP built it.</summary>
    public HttpMessageInvoker Invoker { get; } = invoker;

    public MirrorPolicy Policy { get; } = policy;
    public MirrorRouteCounts Counts { get; } = counts;

    /// <summary>Set when the route compares answers.</summary>
    public MirrorComparison? Comparison { get; set; }
}
