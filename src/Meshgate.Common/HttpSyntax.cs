namespace Meshgate.Common;

/// <summary>RFC 9110 grammar the config validator and the request path both check, so they agree on it.</summary>
public static class HttpSyntax
{
    /// <summary>RFC 9110 5.6.2: token = 1*tchar; a field name is a token.</summary>
    public static bool IsToken(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty) return false;
        foreach (var c in name)
        {
            if (!IsTokenChar(c)) return false;
        }
        return true;
    }

    /// <summary>RFC 9110 5.6.2: tchar.</summary>
    // tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    public static bool IsTokenChar(char c) => c switch
    {
        >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' => true,
        '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~' => true,
        _ => false,
    };
}
