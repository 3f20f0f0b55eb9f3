using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Meshgate.Proxy.Cors;

/// <summary>
/// On a route with a CORS policy the gateway alone speaks CORS: the upstream's own Access-Control-*
/// response headers are dropped, so an upstream's "Access-Control-Allow-Origin: *" cannot widen the
/// route's policy. Runs after <c>UseCors()</c>, so its response-starting callback runs before the
/// CORS one (they run last-registered first) and the gateway's headers are the ones left.
/// </summary>
internal sealed class UpstreamCorsHeadersMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<ICorsPolicyMetadata>() is not null)
        {
            context.Response.OnStarting(static state =>
            {
                var headers = ((HttpContext)state).Response.Headers;
                headers.Remove(HeaderNames.AccessControlAllowOrigin);
                headers.Remove(HeaderNames.AccessControlAllowCredentials);
                headers.Remove(HeaderNames.AccessControlAllowMethods);
                headers.Remove(HeaderNames.AccessControlAllowHeaders);
                headers.Remove(HeaderNames.AccessControlExposeHeaders);
                headers.Remove(HeaderNames.AccessControlMaxAge);
                return Task.CompletedTask;
            }, context);
        }
        return next(context);
    }
}
