using Meshgate.Common;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Health;

internal sealed partial class ThresholdActiveHealthPolicy
{
    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.Health + 1, Level = LogLevel.Warning,
            Message = "Active health: destination {DestinationId} of cluster {ClusterId} is unhealthy after {Failures} consecutive failed probes (last: {LastFailure}).")]
        public static partial void DestinationUnhealthy(ILogger logger, string clusterId, string destinationId, int failures, string lastFailure);

        [LoggerMessage(EventId = EventIds.Health + 2, Level = LogLevel.Information,
            Message = "Active health: destination {DestinationId} of cluster {ClusterId} is healthy after {Successes} consecutive successful probes.")]
        public static partial void DestinationHealthy(ILogger logger, string clusterId, string destinationId, int successes);
    }
}
