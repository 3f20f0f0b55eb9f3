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
        if (provider.IdentityHeaders is { } identity)
        {
            SetHeader(headers, identity.Consumer, principal.FindFirst(MeshgateClaims.Consumer)?.Value);
            SetHeader(headers, identity.Subject, principal.FindFirst(MeshgateClaims.Subject)?.Value);
            foreach (var (claim, header) in identity.Claims)
            {
                var values = principal.FindAll(claim).Select(c => c.Value).ToArray();
                SetHeader(headers, header, values.Length == 0 ? null : string.Join(',', values));
            }
        }
        if (!provider.ForwardAuthorization) headers.Remove("Authorization");
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
        outcomes ??= [];

        var rejected = outcomes.Any(o => o.CredentialsPresent);
        if (!rejected && policy.Anonymous)
        {
            await next(context);
            return;
        }
        var challenges = new List<string>();
        var details = new List<string>();
        for (var i = 0; i < policy.Providers.Count; i++)
        {
            var runtime = providers.Get(policy.Providers[i]);
            // With several providers, the one that saw credentials explains; otherwise each says what it accepts.
            if (rejected && !outcomes[i].CredentialsPresent) continue;
            var challenge = runtime.Challenge(outcomes[i].CredentialsPresent);
            if (!challenges.Contains(challenge)) challenges.Add(challenge);
            var detail = runtime.Detail(outcomes[i].CredentialsPresent);
            if (!details.Contains(detail)) details.Add(detail);
        }
        context.Response.Headers.WWWAuthenticate = new StringValues(challenges.ToArray());
        var reason = rejected ? AuthenticationMetrics.InvalidCredentials : AuthenticationMetrics.MissingCredentials;
        metrics.Failed(routeId, reason);
        await ProblemResponses.WriteAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized", string.Join(" ", details), reason);
    }

    private static void SetHeader(IHeaderDictionary headers, string? name, string? value)
    {
        if (name is null || value is null) return;
        // A claim value with control characters could split the upstream request; it is left out, not sanitized.
        if (value.AsSpan().IndexOfAnyInRange('\0', '\u001f') >= 0 || value.Contains('\u007f')) return;
        headers[name] = value;
    }
}
