using Meshgate.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Cors;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace Meshgate.Proxy.Cors;

/// <summary>
/// Per-route CORS with ASP.NET Core's own CORS service: the route's compiled policy becomes endpoint
/// metadata, and <c>UseCors()</c> at step 5a answers preflights (204, never forwarded) and adds the
/// headers to actual responses. A preflight from an origin the policy does not allow also gets 204,
/// without any Access-Control-Allow-* header, which the browser treats as a refusal.
/// </summary>
public static class CorsEndpoints
{
    public static IServiceCollection AddMeshgateCors(this IServiceCollection services) => services.AddCors();

    /// <summary>
    /// ASP.NET Core's CORS middleware, as <c>UseCors()</c> places it, but without <c>UseMiddleware</c>: its
    /// <c>Invoke</c> takes the policy provider as a second parameter, and for such a method <c>UseMiddleware</c>
    /// compiles an expression tree when the pipeline is built. That loaded System.Linq.Expressions and JIT-compiled
    /// its compiler in every gateway, with CORS on a route or not (about 3 MiB of idle RSS, docs/performance.md#memory).
    /// The policy provider is still resolved from the request's services, as <c>UseMiddleware</c> does.
    /// </summary>
    public static IApplicationBuilder UseMeshgateCors(this IApplicationBuilder app)
    {
        var services = app.ApplicationServices;
        return app.Use(next =>
        {
            var middleware = new CorsMiddleware(next, services.GetRequiredService<ICorsService>(), services.GetRequiredService<ILoggerFactory>());
            return context => middleware.Invoke(context, context.RequestServices.GetRequiredService<ICorsPolicyProvider>());
        });
    }

    /// <summary>Adds the route's CORS policy to its endpoint.</summary>
    public static void Apply(IEndpointConventionBuilder endpoint, RouteConfig route, RoutePolicy? policy)
    {
        if (policy?.Cors is not { } cors) return;
        endpoint.WithMetadata(new CorsPolicyMetadata(cors));
        // A route limited to some methods matches an OPTIONS preflight only when its method metadata says
        // it accepts preflights; ASP.NET Core reads the last such metadata, so this one replaces YARP's.
        if (route.Match.Methods is { Count: > 0 } methods)
        {
            endpoint.WithMetadata(new HttpMethodMetadata(methods, acceptCorsPreflight: true));
        }
    }
}
