using Meshgate.Configuration;
using Meshgate.Proxy.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Meshgate.Proxy.Pipeline;

/// <summary>
/// Kestrel's body and header limits are process-wide; listeners may each set their own. Kestrel
/// holds the largest header limit, and this step enforces a listener's smaller one.
/// </summary>
internal static class ListenerLimits
{
    public static Task Apply(HttpContext context, RequestDelegate next, ListenerPolicy? listener)
    {
        if (listener is null) return next(context);
        if (listener.MaxRequestBodySize is { } body && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = body == 0 ? null : body;
        }
        if (listener.MaxRequestHeadersSize is { } limit && HeaderBytes(context.Request) > limit)
        {
            return ProblemResponses.WriteAsync(context, StatusCodes.Status431RequestHeaderFieldsTooLarge, "Request headers too large",
                $"The request's headers exceed this listener's maxRequestHeadersSize ({limit} bytes).", "headers-too-large");
        }
        return next(context);
    }

    private static long HeaderBytes(HttpRequest request)
    {
        long total = 0;
        foreach (var (name, values) in request.Headers)
        {
            foreach (var value in values) total += name.Length + (value?.Length ?? 0) + 4; // ": " and CRLF
        }
        return total;
    }
}
