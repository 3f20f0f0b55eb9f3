using Meshgate.Common;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Health;

internal sealed partial class ConsecutiveFailuresPassiveHealthPolicy
{
    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.Health + 10, Level = LogLevel.Warning,
            Message = "Passive health: destination {DestinationId} of cluster {ClusterId} is unhealthy after {Failures} consecutive failed requests; reactivation in {ReactivationPeriod}.")]
        public static partial void DestinationEjected(ILogger logger, string clusterId, string destinationId, int failures, TimeSpan reactivationPeriod);
    }
}
