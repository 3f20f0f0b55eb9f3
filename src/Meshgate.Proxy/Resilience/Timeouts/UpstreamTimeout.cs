using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Meshgate.Proxy.Resilience.Timeouts;

/// <summary>
/// Turns an expired deadline into the forwarder's timeout error, which the gateway-errors step answers
/// with 504 problem+json. Needed because both deadlines work by cancelling <c>HttpContext.RequestAborted</c>,
/// which YARP reports as a client cancellation (400).
/// </summary>
internal static class UpstreamTimeout
{
    public static void Report(HttpContext context)
    {
        if (context.Response.HasStarted) return;
        context.Response.Clear();
        context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
        context.Features.Set<IForwarderErrorFeature>(Expired.Instance);
    }

    private sealed class Expired : IForwarderErrorFeature
    {
        public static readonly Expired Instance = new();
        public ForwarderError Error => ForwarderError.RequestTimedOut;
        public Exception? Exception => null;
    }
}
