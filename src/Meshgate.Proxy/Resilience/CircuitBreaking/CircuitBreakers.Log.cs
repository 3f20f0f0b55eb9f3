using Meshgate.Common;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Resilience.CircuitBreaking;

internal sealed partial class CircuitBreakers
{
    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.CircuitBreaking + 1, Level = LogLevel.Warning,
            Message = "Circuit breaking: cluster {ClusterId} refuses requests at its {Limit} limit ({Rejected} refused at this limit since start).")]
        public static partial void CircuitOpen(ILogger logger, string clusterId, string limit, long rejected);
    }
}
