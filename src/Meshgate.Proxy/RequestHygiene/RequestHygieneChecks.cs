using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.RequestHygiene;

/// <summary>What was wrong with a request; <see cref="None"/> when nothing was.</summary>
internal enum HygieneViolation
{
    None,
    RepeatedHeader,
    InvalidHeaderName,
    UnderscoreInHeaderName,
    ControlCharacterInHeaderValue,
    ControlCharacterInTarget,
}

/// <summary>
/// The pure checks behind <see cref="RequestHygieneMiddleware"/>: spans and loops only, no
/// allocation, because they run on every request. Kestrel has already rejected most malformed
/// heads; these are the rules it leaves to the application (see docs/security.md).
/// </summary>
internal static class RequestHygieneChecks
{
    /// <summary>RFC 9110 5.1: field-name = token. Underscores are tokens, but see <see cref="HasUnderscore"/>.</summary>
    public static bool IsToken(ReadOnlySpan<char> name) => Common.HttpSyntax.IsToken(name);

    /// <summary>
    /// Policy, not RFC: a name with an underscore is refused, because CGI-style upstreams (and
    /// frameworks that map headers to variables) read X_User and X-User as the same header, so an
    /// underscore spelling could slip a header past a check made on the hyphenated one.
    /// </summary>
    public static bool HasUnderscore(ReadOnlySpan<char> name) => name.Contains('_');

    /// <summary>RFC 9110 5.5: field values hold no CTL except HTAB (NUL, CR and LF are Kestrel's to refuse; this catches the rest, and DEL).</summary>
    public static bool HasControlCharacter(StringValues values)
    {
        for (var i = 0; i < values.Count; i++)
        {
            foreach (var c in values[i].AsSpan())
            {
                if ((c < 0x20 && c != '\t') || c == 0x7F) return true;
            }
        }
        return false;
    }

    /// <summary>RFC 9112 3.2: the request-target holds no whitespace or CTL.</summary>
    public static bool HasControlCharacterOrSpace(ReadOnlySpan<char> target)
    {
        foreach (var c in target)
        {
            if (c <= 0x20 || c == 0x7F) return true;
        }
        return false;
    }
}
