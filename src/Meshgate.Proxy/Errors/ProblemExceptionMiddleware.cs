using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Errors;

/// <summary>An unhandled failure is logged once and answered with a 500 problem+json, never a bare connection reset.</summary>
internal sealed partial class ProblemExceptionMiddleware(RequestDelegate next, ILogger<ProblemExceptionMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            if (e is BadHttpRequestException bad)
            {
                await ProblemResponses.WriteAsync(context, bad.StatusCode, "Bad request", bad.Message, "bad-request");
                return;
            }
            LogUnhandled(logger, context.Request.Method, context.Request.Path.Value, e);
            await ProblemResponses.WriteAsync(context, StatusCodes.Status500InternalServerError, "Gateway error", "The gateway failed while handling the request; the log has the details.", "internal");
        }
    }

    [LoggerMessage(EventId = Common.EventIds.Proxy + 1, Level = LogLevel.Error, Message = "Unhandled failure for {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, string method, string? path, Exception exception);
}
