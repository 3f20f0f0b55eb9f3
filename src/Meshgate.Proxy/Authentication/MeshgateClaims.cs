namespace Meshgate.Proxy.Authentication;

/// <summary>
/// Claim types every authentication provider puts on <c>HttpContext.User</c>, so authorization rules,
/// identity headers and rate-limit keys read one vocabulary whatever proved the identity.
/// </summary>
public static class MeshgateClaims
{
    /// <summary>The named consumer (API key owner, or a JWT claim the provider maps to it).</summary>
    public const string Consumer = "meshgate.consumer";

    /// <summary>The subject: JWT <c>sub</c>, or the client certificate's identity.</summary>
    public const string Subject = "sub";

    /// <summary>One claim per scope (a JWT's space-separated <c>scope</c> / <c>scp</c> is split).</summary>
    public const string Scope = "scope";

    /// <summary>One claim per role.</summary>
    public const string Role = "role";

    /// <summary>Name of the provider that authenticated the request.</summary>
    public const string Provider = "meshgate.provider";
}
