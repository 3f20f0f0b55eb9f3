using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Authentication;

/// <summary>What one provider made of a request.</summary>
/// <param name="Principal">Set when the provider accepted the request.</param>
/// <param name="CredentialsPresent">The request carried credentials for this provider (accepted or not).</param>
internal readonly record struct AuthenticationOutcome(ClaimsPrincipal? Principal, bool CredentialsPresent)
{
    public static AuthenticationOutcome NoCredentials => new(null, false);
    public static AuthenticationOutcome Rejected => new(null, true);
    public static AuthenticationOutcome Accepted(ClaimsPrincipal principal) => new(principal, true);
}

/// <summary>The runtime side of one configured provider; lives as long as its definition and key material are unchanged.</summary>
internal abstract class AuthenticationProvider
{
    public abstract ValueTask<AuthenticationOutcome> AuthenticateAsync(HttpContext context, string routeId);

    /// <summary>
    /// The one request header this provider takes its credentials from, or null when it reads anything else
    /// (a cookie, a query parameter, the client certificate). When set, the values of this header are the
    /// provider's whole input, so a caller without an <see cref="HttpContext"/> can use
    /// <see cref="AuthenticateAsync(StringValues, string)"/>.
    /// </summary>
    public abstract string? CredentialHeader { get; }

    /// <summary>
    /// The outcome <see cref="AuthenticateAsync(HttpContext, string)"/> gives a request whose
    /// <see cref="CredentialHeader"/> has these values (same caching, logging and outcome).
    /// </summary>
    /// <param name="credentialHeader">Every value of <see cref="CredentialHeader"/> in the request; empty when it is absent.</param>
    /// <exception cref="InvalidOperationException"><see cref="CredentialHeader"/> is null: the header alone cannot decide.</exception>
    public virtual ValueTask<AuthenticationOutcome> AuthenticateAsync(StringValues credentialHeader, string routeId) =>
        throw new InvalidOperationException($"{GetType().Name} does not take its credentials from a single header.");

    /// <summary>
    /// The principal for credentials this provider accepted before and still holds (a cached token), from the
    /// <see cref="CredentialHeader"/>'s single value, without allocating; false when the value needs
    /// <see cref="AuthenticateAsync(StringValues, string)"/> (never seen, expired, or a provider with no such cache).
    /// </summary>
    public virtual bool TryAcceptCached(ReadOnlySpan<char> credentialHeader, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ClaimsPrincipal? principal)
    {
        principal = null;
        return false;
    }

    /// <summary>The WWW-Authenticate challenge (RFC 9110 section 11.6.1) for a 401.</summary>
    /// <param name="rejected">Credentials for this provider were sent and refused.</param>
    public abstract string Challenge(bool rejected);

    /// <summary>The problem detail for a 401, saying what is missing or invalid and nothing about why.</summary>
    public abstract string Detail(bool rejected);
}
