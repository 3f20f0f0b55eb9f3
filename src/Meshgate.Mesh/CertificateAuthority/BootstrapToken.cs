using System.Security.Cryptography;
using System.Text;

namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>
/// One workload's bootstrap token: its SHA-256 (as <c>meshgate hash-key</c> prints it) and the identity it
/// grants. The CA stores only the hash, so a leaked CA config does not leak tokens.
/// </summary>
public sealed record BootstrapToken(string Namespace, string Service, string Sha256Hex)
{
    /// <summary>Extra DNS names this token may put in the leaf (none by default: the SPIFFE id is the identity).</summary>
    public IReadOnlyList<string> DnsNames { get; init; } = [];

    /// <summary>Hash of a token, in the form <see cref="Sha256Hex"/> expects.</summary>
    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    internal IEnumerable<string> Validate()
    {
        if (!IsPathSegment(Namespace)) yield return $"namespace '{Namespace}' is not valid: use letters, digits, '-', '_' and '.'";
        if (!IsPathSegment(Service)) yield return $"service '{Service}' is not valid: use letters, digits, '-', '_' and '.'";
        if (Sha256Hex.Length != 64 || !Sha256Hex.All(Uri.IsHexDigit))
            yield return "hash must be 64 hex digits (the SHA-256 of the token, as 'meshgate hash-key' prints it)";
        foreach (var name in DnsNames)
        {
            if (!CertificateAuthorityOptions.IsDnsLabelList(name.ToLowerInvariant())) yield return $"DNS name '{name}' is not valid";
        }
    }

    // SPIFFE path segments: no empty, '.' or '..' segment, and only characters that need no escaping.
    private static bool IsPathSegment(string value) =>
        value.Length is > 0 and <= 128 && value is not "." and not ".." &&
        value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
