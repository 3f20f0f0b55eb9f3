using System.Security.Claims;
using Meshgate.Configuration;

namespace Meshgate.Proxy.Authentication;

/// <summary>The parts of a 401 for a request that no provider of its route accepted.</summary>
/// <param name="Challenges">The WWW-Authenticate values, one per distinct challenge, in the route's provider order.</param>
/// <param name="Detail">The problem detail: what is missing or invalid.</param>
/// <param name="Reason">
/// <see cref="AuthenticationMetrics.InvalidCredentials"/> or <see cref="AuthenticationMetrics.MissingCredentials"/>:
/// the problem's error code and the failure metric's label.
/// </param>
internal sealed record UnauthorizedAnswer(string[] Challenges, string Detail, string Reason);

/// <summary>
/// What authentication decides for a request, computed from the policy and the providers' outcomes alone,
/// so <see cref="AuthenticationMiddleware"/> and a caller without an <c>HttpContext</c> answer alike.
/// </summary>
/// <remarks>
/// A caller without <c>HttpContext</c> must also do what the middleware does to the request's headers: before
/// the providers run, drop <see cref="RouteAuthenticationPolicy.StripHeaders"/> from the client's headers (so
/// a client cannot forge an identity header on a public route either); after a provider accepted, drop every
/// header name <see cref="IdentityHeaders{TState}"/> sets (a set header replaces the client's copies), and drop
/// Authorization when <see cref="RemovesAuthorization"/> says so.
/// </remarks>
internal static class AuthenticationAnswers
{
    /// <summary>The 401 for a request that none of <paramref name="policy"/>'s providers accepted, or null when it goes on anonymously.</summary>
    /// <param name="outcomes">Each provider's outcome, in the order of <see cref="RouteAuthenticationPolicy.Providers"/>.</param>
    /// <returns>Null when the route allows anonymous requests and no provider saw credentials; rejected credentials are never let through.</returns>
    public static UnauthorizedAnswer? Unauthorized(RouteAuthenticationPolicy policy, AuthenticationProviders providers, ReadOnlySpan<AuthenticationOutcome> outcomes)
    {
        if (outcomes.Length != policy.Providers.Count) throw new ArgumentException($"{outcomes.Length} outcomes for {policy.Providers.Count} providers.", nameof(outcomes));
        var rejected = false;
        foreach (var outcome in outcomes) rejected |= outcome.CredentialsPresent;
        if (!rejected && policy.Anonymous) return null;

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
        var reason = rejected ? AuthenticationMetrics.InvalidCredentials : AuthenticationMetrics.MissingCredentials;
        return new UnauthorizedAnswer(challenges.ToArray(), string.Join(" ", details), reason);
    }

    /// <summary>
    /// Calls <paramref name="set"/> with each identity header the upstream request gets for
    /// <paramref name="principal"/>, accepted by <paramref name="provider"/>, in order (a later one with the
    /// same name replaces an earlier one). A value holding control characters is left out.
    /// </summary>
    /// <remarks>The state and a static lambda keep the middleware's accepted path free of allocations of its own.</remarks>
    public static void IdentityHeaders<TState>(AuthenticationProviderPolicy provider, ClaimsPrincipal principal, TState state, Action<TState, string, string> set)
    {
        if (provider.IdentityHeaders is not { } identity) return;
        Set(identity.Consumer, principal.FindFirst(MeshgateClaims.Consumer)?.Value, state, set);
        Set(identity.Subject, principal.FindFirst(MeshgateClaims.Subject)?.Value, state, set);
        foreach (var (claim, header) in identity.Claims)
        {
            var values = principal.FindAll(claim).Select(c => c.Value).ToArray();
            Set(header, values.Length == 0 ? null : string.Join(',', values), state, set);
        }
    }

    /// <summary>Adds to <paramref name="headers"/> each identity header (name, value) the upstream request gets; see <see cref="IdentityHeaders{TState}"/>.</summary>
    public static void IdentityHeaders(AuthenticationProviderPolicy provider, ClaimsPrincipal principal, List<KeyValuePair<string, string>> headers) =>
        IdentityHeaders(provider, principal, headers, static (list, name, value) => list.Add(new KeyValuePair<string, string>(name, value)));

    /// <summary>The client's Authorization header is removed from the upstream request once <paramref name="provider"/> accepted it.</summary>
    public static bool RemovesAuthorization(AuthenticationProviderPolicy provider) => !provider.ForwardAuthorization;

    private static void Set<TState>(string? name, string? value, TState state, Action<TState, string, string> set)
    {
        if (name is null || value is null) return;
        // A claim value with control characters could split the upstream request; it is left out, not sanitized.
        if (value.AsSpan().IndexOfAnyInRange('\0', '\u001f') >= 0 || value.Contains('\u007f')) return;
        set(state, name, value);
    }
}
