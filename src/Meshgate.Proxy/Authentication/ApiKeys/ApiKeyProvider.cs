using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Meshgate.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Authentication.ApiKeys;

/// <summary>Compares SHA-256 of the presented key with every configured hash, in constant time.</summary>
internal sealed class ApiKeyProvider : AuthenticationProvider
{
    private readonly ApiKeysPolicy _policy;
    private readonly (byte[] Hash, ClaimsPrincipal Principal)[] _keys;

    public ApiKeyProvider(AuthenticationProviderPolicy provider)
    {
        _policy = provider.ApiKeys!;
        // One immutable principal per key, built once: an accepted request allocates nothing for its identity.
        _keys = _policy.Keys.Select(k =>
        {
            var claims = new List<Claim> { new(MeshgateClaims.Consumer, k.Consumer), new(MeshgateClaims.Provider, provider.Name) };
            claims.AddRange(k.Metadata.Select(m => new Claim(m.Key, m.Value)));
            return (k.Hash, new ClaimsPrincipal(new ClaimsIdentity(claims, "meshgate:" + provider.Name, MeshgateClaims.Consumer, MeshgateClaims.Role)));
        }).ToArray();
    }

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public override string? CredentialHeader => _policy.Header;

    public override ValueTask<AuthenticationOutcome> AuthenticateAsync(HttpContext context, string routeId) =>
        _policy.Header is { } header
            ? AuthenticateAsync(context.Request.Headers[header], routeId)
            : ValueTask.FromResult(Check(context.Request.Query[_policy.QueryParameter!].ToString()));

    public override ValueTask<AuthenticationOutcome> AuthenticateAsync(StringValues credentialHeader, string routeId)
    {
        if (_policy.Header is null) throw new InvalidOperationException($"API key provider reads query parameter {_policy.QueryParameter}, not a header.");
        return ValueTask.FromResult(Check(credentialHeader.ToString()));
    }

    private AuthenticationOutcome Check(string presented)
    {
        if (presented.Length == 0) return AuthenticationOutcome.NoCredentials;

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var length = Encoding.UTF8.GetMaxByteCount(presented.Length);
        var bytes = length <= 512 ? stackalloc byte[length] : new byte[length];
        SHA256.HashData(bytes[..Encoding.UTF8.GetBytes(presented, bytes)], hash);
        // Every hash is compared, with no early exit, so timing says nothing about which or how many keys exist.
        ClaimsPrincipal? match = null;
        foreach (var (candidate, principal) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, candidate)) match ??= principal;
        }
        return match is null ? AuthenticationOutcome.Rejected : AuthenticationOutcome.Accepted(match);
    }

    public override string Challenge(bool rejected) =>
        _policy.Header is { } header ? $"ApiKey header=\"{header}\"" : $"ApiKey query=\"{_policy.QueryParameter}\"";

    public override string Detail(bool rejected) =>
        (rejected ? "The API key is not valid" : "An API key is required") +
        (_policy.Header is { } header ? $" (header {header})." : $" (query parameter {_policy.QueryParameter}).");
}
