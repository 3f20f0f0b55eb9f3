using Meshgate.Configuration.Model;

namespace Meshgate.Configuration;

/// <param name="Providers">Any of them may authenticate; empty on a public route that only strips identity headers.</param>
/// <param name="Anonymous">A request with no credentials at all goes through unauthenticated.</param>
/// <param name="StripHeaders">Identity headers removed from every incoming request before anything else.</param>
public sealed record RouteAuthenticationPolicy(IReadOnlyList<AuthenticationProviderPolicy> Providers, bool Anonymous, IReadOnlyList<string> StripHeaders);

/// <param name="Fingerprint">Changes whenever the definition or the key material read for it changes.</param>
public sealed record AuthenticationProviderPolicy(string Name, string Fingerprint, JwtProviderPolicy? Jwt, ApiKeysPolicy? ApiKeys,
    IdentityHeadersPolicy? IdentityHeaders, bool ForwardAuthorization)
{
    /// <summary>Set for a provider that takes the identity from the verified client certificate.</summary>
    public Model.ClientCertificateProviderDefinition? ClientCertificate { get; init; }
}

public sealed record IdentityHeadersPolicy(string? Consumer, string? Subject, IReadOnlyList<KeyValuePair<string, string>> Claims)
{
    public IEnumerable<string> HeaderNames => new[] { Consumer, Subject }.OfType<string>().Concat(Claims.Select(c => c.Value));
}

/// <summary>Holds key material: a class without a generated ToString, so it never ends up in a log line.</summary>
public sealed class JwtProviderPolicy(JwtProviderDefinition definition, IReadOnlyList<string> algorithms, byte[]? secret, string? publicKeyPem)
{
    public JwtProviderDefinition Definition { get; } = definition;

    /// <summary>The accepted alg values, never including none.</summary>
    public IReadOnlyList<string> Algorithms { get; } = algorithms;

    public byte[]? Secret { get; } = secret;
    public string? PublicKeyPem { get; } = publicKeyPem;
}

public sealed class ApiKeysPolicy(string? header, string? queryParameter, IReadOnlyList<ApiKeyEntry> keys)
{
    public string? Header { get; } = header;
    public string? QueryParameter { get; } = queryParameter;
    public IReadOnlyList<ApiKeyEntry> Keys { get; } = keys;
}

public sealed class ApiKeyEntry(string consumer, byte[] hash, IReadOnlyDictionary<string, string> metadata)
{
    public string Consumer { get; } = consumer;
    public byte[] Hash { get; } = hash;
    public IReadOnlyDictionary<string, string> Metadata { get; } = metadata;
}
