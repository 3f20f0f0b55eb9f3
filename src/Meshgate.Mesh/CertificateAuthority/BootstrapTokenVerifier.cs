using System.Security.Cryptography;
using System.Text;

namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>Finds the identity a presented bootstrap token grants: SHA-256 of it compared with every configured hash in constant time.</summary>
internal sealed class BootstrapTokenVerifier
{
    private readonly (byte[] Hash, BootstrapToken Token)[] _tokens;

    public BootstrapTokenVerifier(CertificateAuthorityOptions options) =>
        _tokens = [.. options.Tokens.Select(t => (Convert.FromHexString(t.Sha256Hex), t))];

    /// <summary>The token's identity, or null when no configured hash matches.</summary>
    public BootstrapToken? Find(string presented)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        // Every hash is compared, with no early exit, so timing says nothing about which or how many tokens exist.
        BootstrapToken? match = null;
        foreach (var (candidate, token) in _tokens)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, candidate)) match ??= token;
        }
        return match;
    }
}
