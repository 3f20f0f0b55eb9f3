using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.RequestHygiene;

/// <summary>
/// Kestrel connection middleware (ListenOptions.Use, after UseHttps so it reads plaintext) that
/// refuses HTTP/1.1 request framing Kestrel would normalise before any application code can see it:
/// Content-Length with Transfer-Encoding, a Content-Length that is not 1*DIGIT ("+5"), a
/// Transfer-Encoding other than one "chunked", a malformed chunk size or extension. It reads ahead
/// of Kestrel's parser (<see cref="RequestFramingScanner"/>, <see cref="RequestFramingPipeReader"/>);
/// the rules and who enforces each are in docs/security.md, request hygiene.
/// </summary>
public static partial class RequestFramingConnectionFilter
{
    /// <summary>The filter for one listener; <paramref name="maxHeldHead"/> is Kestrel's request-line limit plus its header limit.</summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Create(ILogger logger, long maxHeldHead) => next => connection =>
    {
        // HTTP/2 chosen by ALPN frames requests itself; Kestrel's HTTP/2 parser is the only one there.
        if (connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual("h2"u8) == true) return next(connection);
        return FilterAsync(next, connection, logger, maxHeldHead);
    };

    private static async Task FilterAsync(ConnectionDelegate next, ConnectionContext connection, ILogger logger, long maxHeldHead)
    {
        var transport = connection.Transport;
        var input = new RequestFramingPipeReader(transport.Input, new RequestFramingScanner(maxHeldHead), violation => LogRefused(logger, violation, connection.RemoteEndPoint?.ToString()));
        connection.Transport = new Sockets.DuplexPipe(input, transport.Output);
        try
        {
            await next(connection);
        }
        finally
        {
            connection.Transport = transport;
        }
    }

    // 1341: request framing, in the request-hygiene ids (1340-1349) of the proxy range.
    [LoggerMessage(EventId = Common.EventIds.Proxy + 41, Level = LogLevel.Information, Message = "Refused an HTTP/1.1 request with unsafe framing ({Violation}) from {Client}; the connection is closed after the 400")]
    private static partial void LogRefused(ILogger logger, FramingViolation violation, string? client);
}
