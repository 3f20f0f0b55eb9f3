using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Meshgate.Proxy.Resilience.OutlierDetection;

/// <summary>What one proxied attempt says about the endpoint that served it.</summary>
internal enum UpstreamOutcome
{
    /// <summary>An answer below 500.</summary>
    Success,

    /// <summary>A 5xx answer other than 502, 503 and 504: the endpoint answered, but failed.</summary>
    ServerError,

    /// <summary>The endpoint could not be reached or did not answer properly: a connect failure, reset, timeout or
    /// broken response (a forwarder error the destination caused), or a 502, 503 or 504 answer.</summary>
    GatewayError,

    /// <summary>The client cancelled or its side of the exchange broke: nothing is learnt about the endpoint.</summary>
    Ignored,
}

internal static class UpstreamOutcomes
{
    public static UpstreamOutcome Classify(HttpContext context)
    {
        var error = context.Features.Get<IForwarderErrorFeature>()?.Error ?? ForwarderError.None;
        switch (error)
        {
            case ForwarderError.None:
                return context.Response.StatusCode switch
                {
                    StatusCodes.Status502BadGateway or StatusCodes.Status503ServiceUnavailable or StatusCodes.Status504GatewayTimeout => UpstreamOutcome.GatewayError,
                    >= StatusCodes.Status500InternalServerError => UpstreamOutcome.ServerError,
                    _ => UpstreamOutcome.Success,
                };
            case ForwarderError.RequestCanceled:
            case ForwarderError.RequestBodyCanceled:
            case ForwarderError.RequestBodyClient:
            case ForwarderError.ResponseBodyCanceled:
            case ForwarderError.ResponseBodyClient:
            case ForwarderError.UpgradeRequestCanceled:
            case ForwarderError.UpgradeRequestClient:
            case ForwarderError.UpgradeResponseCanceled:
            case ForwarderError.UpgradeResponseClient:
                return UpstreamOutcome.Ignored;
            default:
                return UpstreamOutcome.GatewayError;
        }
    }
}
