using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Meshgate.Proxy.Errors;

/// <summary>
/// YARP sets the status of a failed forward (502, 504, ...) but writes no body; this step, inside the
/// proxy pipeline, adds the problem+json body and says which kind of failure it was.
/// </summary>
internal static class ForwarderErrorResponses
{
    public static async Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        await next();
        var error = context.Features.Get<IForwarderErrorFeature>();
        if (error is null || context.Response.HasStarted) return;

        var (status, title, detail, code) = error.Error switch
        {
            ForwarderError.RequestTimedOut => (StatusCodes.Status504GatewayTimeout, "Upstream timed out", "The upstream did not answer within the cluster's request timeout.", "upstream-timeout"),
            ForwarderError.NoAvailableDestinations => (StatusCodes.Status503ServiceUnavailable, "No healthy upstream", "Every endpoint of the cluster is unhealthy or has weight 0.", "no-healthy-upstream"),
            ForwarderError.RequestBodyClient or ForwarderError.RequestCanceled when context.Response.StatusCode == StatusCodes.Status413PayloadTooLarge
                => (StatusCodes.Status413PayloadTooLarge, "Request body too large", "The request body is larger than the listener's maxRequestBodySize.", "body-too-large"),
            ForwarderError.RequestBodyClient or ForwarderError.RequestCanceled => (StatusCodes.Status400BadRequest, "Client request failed", "The request body could not be read from the client.", "client-error"),
            _ when context.Response.StatusCode == StatusCodes.Status504GatewayTimeout => (StatusCodes.Status504GatewayTimeout, "Upstream timed out", "The upstream did not answer in time.", "upstream-timeout"),
            _ => (StatusCodes.Status502BadGateway, "Bad gateway", $"The upstream could not be reached or failed mid-request ({error.Error}).", "upstream-unavailable"),
        };
        await ProblemResponses.WriteAsync(context, status, title, detail, code);
    }
}
