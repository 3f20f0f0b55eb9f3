using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.RequestHygiene;

internal sealed partial class RequestHygieneMiddleware
{
    // 1340-1349: request hygiene, inside the proxy range.
    [LoggerMessage(EventId = Common.EventIds.Proxy + 40, Level = LogLevel.Information, Message = "Refused a request with unsafe framing or headers ({Reason}) from {Client}")]
    private static partial void LogRejected(ILogger logger, string reason, string? client);
}
