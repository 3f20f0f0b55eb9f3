using Meshgate.Configuration;
using Meshgate.Proxy.Errors;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Authentication;

/// <summary>
/// Slot 5b: strips forged identity headers, runs the route's providers (any one may accept), sets
/// <c>HttpContext.User</c> and the identity headers, or answers 401 with the providers' challenges.
/// </summary>
internal sealed class AuthenticationMiddleware(RequestDelegate next, SnapshotAccessor snapshots, AuthenticationProviders providers, AuthenticationMetrics metrics)
{
    private readonly SnapshotFact<bool> _anyRoute = new(static snapshot => snapshot.RoutePolicies.Values.Any(r => r.Authentication is not null));

    public Task InvokeAsync(HttpContext context)
    {
        // The current snapshot by route id: a reload that only revokes a key applies to the next request.
        var snapshot = snapshots.Current;
        if (!_anyRoute.Of(snapshot)) return next(context);
        var routeId = context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>()?.Config.RouteId;
        if (routeId is null || !snapshot.RoutePolicies.TryGetValue(routeId, out var route) || route.Authentication is not { } policy)
        {
            return next(context);
        }
        var headers = context.Request.Headers;
        foreach (var name in policy.StripHeaders) headers.Remove(name);
        if (policy.Providers.Count == 0) return next(context);

        // Fast path: the first provider answers at once (a cached token, an API key) and accepts. The
        // request then goes on without an async frame of ours; anything else takes the full path.
        var first = policy.Providers[0];
        var pending = providers.Get(first).AuthenticateAsync(context, routeId);
        if (pending.IsCompletedSuccessfully && pending.Result.Principal is { } principal)
        {
            Accept(context, first, principal);
            return next(context);
        }
        return AuthenticateAsync(context, routeId, policy, pending);
    }

    private static void Accept(HttpContext context, AuthenticationProviderPolicy provider, System.Security.Claims.ClaimsPrincipal principal)
    {
        context.User = principal;
        var headers = context.Request.Headers;
        AuthenticationAnswers.IdentityHeaders(provider, principal, headers, static (target, name, value) => target[name] = value);
        if (AuthenticationAnswers.RemovesAuthorization(provider)) headers.Remove("Authorization");
    }

    /// <param name="first">The first provider's answer, already asked for.</param>
    private async Task AuthenticateAsync(HttpContext context, string routeId, RouteAuthenticationPolicy policy, ValueTask<AuthenticationOutcome> first)
    {
        // Allocated only on the way to a 401: an accepted request pays for nothing here.
        AuthenticationOutcome[]? outcomes = null;
        for (var i = 0; i < policy.Providers.Count; i++)
        {
            var provider = policy.Providers[i];
            var outcome = i == 0 ? await first : await providers.Get(provider).AuthenticateAsync(context, routeId);
            if (outcome.Principal is { } principal)
            {
                Accept(context, provider, principal);
                await next(context);
                return;
            }
            (outcomes ??= new AuthenticationOutcome[policy.Providers.Count])[i] = outcome;
        }
        if (AuthenticationAnswers.Unauthorized(policy, providers, outcomes) is not { } answer)
        {
            await next(context);
            return;
        }
        context.Response.Headers.WWWAuthenticate = new StringValues(answer.Challenges);
        metrics.Failed(routeId, answer.Reason);
        await ProblemResponses.WriteAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized", answer.Detail, answer.Reason);
    }
}
