using Meshgate.Common;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Resilience.OutlierDetection;

internal sealed partial class OutlierDetector
{
    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.OutlierDetection + 1, Level = LogLevel.Warning,
            Message = "Outlier detection: endpoint {DestinationId} of cluster {ClusterId} ejected ({Reason}, ejection {Ejections}) for {EjectionTime}.")]
        public static partial void EndpointEjected(ILogger logger, string clusterId, string destinationId, string reason, int ejections, TimeSpan ejectionTime);

        [LoggerMessage(EventId = EventIds.OutlierDetection + 2, Level = LogLevel.Information,
            Message = "Outlier detection: endpoint {DestinationId} of cluster {ClusterId} is back in service after ejection {Ejections}.")]
        public static partial void EndpointReturned(ILogger logger, string clusterId, string destinationId, int ejections);

        [LoggerMessage(EventId = EventIds.OutlierDetection + 3, Level = LogLevel.Warning,
            Message = "Outlier detection: endpoint {DestinationId} of cluster {ClusterId} not ejected ({Reason}): {Ejected} of {Total} endpoints are ejected already and maxEjectionPercent is {MaxEjectionPercent}.")]
        public static partial void EjectionPrevented(ILogger logger, string clusterId, string destinationId, string reason, int ejected, int total, int maxEjectionPercent);

        [LoggerMessage(EventId = EventIds.OutlierDetection + 4, Level = LogLevel.Information,
            Message = "Outlier detection: endpoint {DestinationId} of cluster {ClusterId} has success rate {Rate:P1}, below the threshold {Threshold:P1} (cluster mean {Mean:P1}).")]
        public static partial void SuccessRateOutlier(ILogger logger, string clusterId, string destinationId, double rate, double mean, double threshold);

        [LoggerMessage(EventId = EventIds.OutlierDetection + 5, Level = LogLevel.Error,
            Message = "Outlier detection: the interval analysis of cluster {ClusterId} failed.")]
        public static partial void IntervalFailed(ILogger logger, string clusterId, Exception exception);
    }
}
