using System.Security.Claims;
using Microsoft.AspNetCore.Http;

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

    /// <summary>The WWW-Authenticate challenge (RFC 9110 section 11.6.1) for a 401.</summary>
    /// <param name="rejected">Credentials for this provider were sent and refused.</param>
    public abstract string Challenge(bool rejected);

    /// <summary>The problem detail for a 401, saying what is missing or invalid and nothing about why.</summary>
    public abstract string Detail(bool rejected);
}
