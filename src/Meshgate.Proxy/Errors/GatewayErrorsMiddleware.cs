using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Errors;

/// <summary>
/// Outermost step: whatever the gateway itself answers with an error gets a problem+json body. That is
/// an unhandled exception (500), a failed forward (YARP sets 502/503/504 but writes no body), and
/// routing's own 405 endpoint. One step with one await serves all three, so a proxied request pays for
/// a single async frame here.
/// </summary>
internal sealed partial class GatewayErrorsMiddleware(RequestDelegate next, ILogger<GatewayErrorsMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        Task task;
        try
        {
            task = next(context);
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            return OnExceptionAsync(context, e);
        }
        return task.IsCompletedSuccessfully ? AfterResponseAsync(context) : AwaitAsync(context, task);
    }

    private async Task AwaitAsync(HttpContext context, Task task)
    {
        try
        {
            await task;
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            await OnExceptionAsync(context, e);
            return;
        }
        await AfterResponseAsync(context);
    }

    private static Task AfterResponseAsync(HttpContext context)
    {
        if (context.Response.HasStarted) return Task.CompletedTask;
        if (context.Features.Get<IForwarderErrorFeature>() is { } error) return ForwarderErrorAsync(context, error.Error, error.Exception);
        if (context.Response.StatusCode == StatusCodes.Status405MethodNotAllowed && context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>() is null)
        {
            return ProblemResponses.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "Method not allowed",
                $"A route matches {context.Request.Path} but not the method {context.Request.Method}; allowed: {context.Response.Headers.Allow}.", "method-not-allowed");
        }
        return Task.CompletedTask;
    }

    private static Task ForwarderErrorAsync(HttpContext context, ForwarderError error, Exception? exception)
    {
        var (status, title, detail, code) = DescribeForwarderError(error, exception, context.Response.StatusCode);
        return ProblemResponses.WriteAsync(context, status, title, detail, code);
    }

    /// <summary>The problem a failed forward is answered with; <paramref name="statusSoFar"/> is the status the forwarder set.</summary>
    internal static (int Status, string Title, string Detail, string Code) DescribeForwarderError(ForwarderError error, Exception? exception, int statusSoFar) =>
        error switch
        {
            ForwarderError.RequestTimedOut => (StatusCodes.Status504GatewayTimeout, "Upstream timed out", "The upstream did not answer in time (the route's timeout or per-try timeout, or the cluster's request timeout).", "upstream-timeout"),
            ForwarderError.NoAvailableDestinations => (StatusCodes.Status503ServiceUnavailable, "No healthy upstream", "Every endpoint of the cluster is unhealthy or has weight 0.", "no-healthy-upstream"),
            ForwarderError.RequestBodyClient or ForwarderError.RequestCanceled when statusSoFar == StatusCodes.Status413PayloadTooLarge
                => (StatusCodes.Status413PayloadTooLarge, "Request body too large", "The request body is larger than the listener's maxRequestBodySize.", "body-too-large"),
            ForwarderError.RequestBodyClient or ForwarderError.RequestCanceled => (StatusCodes.Status400BadRequest, "Client request failed", "The request body could not be read from the client.", "client-error"),
            _ when statusSoFar == StatusCodes.Status504GatewayTimeout => (StatusCodes.Status504GatewayTimeout, "Upstream timed out", "The upstream did not answer in time.", "upstream-timeout"),
            // E.g. a mesh instance presenting another service's SPIFFE id; the log names what was expected and presented.
            _ when IsTlsRefusal(exception) => (StatusCodes.Status502BadGateway, "Bad gateway", "The upstream's TLS certificate was refused (untrusted, or not the identity expected); the gateway log says why.", "upstream-unavailable"),
            // Both forwarders report a broken or oversized response head as HttpClient does.
            _ when HttpError(exception) is System.Net.Http.HttpRequestError.ConfigurationLimitExceeded
                => (StatusCodes.Status502BadGateway, "Bad gateway", "The upstream's response headers are larger than the gateway accepts (64 KiB).", "upstream-unavailable"),
            _ when HttpError(exception) is System.Net.Http.HttpRequestError.InvalidResponse
                => (StatusCodes.Status502BadGateway, "Bad gateway", "The upstream's response is not valid HTTP (status line, headers or framing).", "upstream-unavailable"),
            _ => (StatusCodes.Status502BadGateway, "Bad gateway", $"The upstream could not be reached or failed mid-request ({error}).", "upstream-unavailable"),
        };

    private static System.Net.Http.HttpRequestError? HttpError(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is System.Net.Http.HttpRequestException { HttpRequestError: not System.Net.Http.HttpRequestError.Unknown } http) return http.HttpRequestError;
        }
        return null;
    }

    private static bool IsTlsRefusal(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is System.Security.Authentication.AuthenticationException) return true;
        }
        return false;
    }

    private Task OnExceptionAsync(HttpContext context, Exception e)
    {
        if (e is BadHttpRequestException bad)
        {
            return ProblemResponses.WriteAsync(context, bad.StatusCode, "Bad request", bad.Message, "bad-request");
        }
        LogUnhandled(logger, context.Request.Method, context.Request.Path.Value, e);
        return ProblemResponses.WriteAsync(context, StatusCodes.Status500InternalServerError, "Gateway error", "The gateway failed while handling the request; the log has the details.", "internal");
    }

    [LoggerMessage(EventId = Common.EventIds.Proxy + 1, Level = LogLevel.Error, Message = "Unhandled failure for {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, string method, string? path, Exception exception);
}
