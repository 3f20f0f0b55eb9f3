using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>One named authentication provider: exactly one of <see cref="Jwt"/>, <see cref="ApiKeys"/> or <see cref="ClientCertificate"/>.</summary>
public sealed record AuthenticationProviderDefinition
{
    [Description("Validate JSON Web Tokens (signed JWS). Exactly one of jwt, apiKeys, clientCertificate.")]
    public JwtProviderDefinition? Jwt { get; init; }

    [Description("Check API keys against SHA-256 hashes. Exactly one of jwt, apiKeys, clientCertificate.")]
    public ApiKeysProviderDefinition? ApiKeys { get; init; }

    [Description("Take the identity from the client certificate the listener verified (tls.clientCertificates: allow or require). Exactly one of jwt, apiKeys, clientCertificate.")]
    public ClientCertificateProviderDefinition? ClientCertificate { get; init; }

    [Description("Request headers that carry the proven identity to the upstream. Incoming copies of these headers are always removed first, on every route, so a client cannot forge them.")]
    public IdentityHeadersDefinition? IdentityHeaders { get; init; }

    [Description("Forward the client's Authorization header to the upstream after this provider accepted the request. Default true; false removes it.")]
    public bool ForwardAuthorization { get; init; } = true;
}

public sealed record JwtProviderDefinition
{
    [Description("Expected iss claim, compared exactly.")]
    [Required]
    public string? Issuer { get; init; }

    [Description("Accepted aud values; the token must name at least one. At least one.")]
    public List<string> Audiences { get; init; } = [];

    [Description("URL of a JSON Web Key Set. Keys are cached, refreshed every refreshInterval in the background, and refetched when a token names an unknown kid (at most once per refreshMinInterval). One key source only.")]
    public string? JwksUri { get; init; }

    [Description("OpenID Connect issuer URL; its /.well-known/openid-configuration names the jwks_uri. One key source only.")]
    public string? Authority { get; init; }

    [Description("PEM file with an RSA or EC public key (or certificate). One key source only.")]
    public string? PublicKeyFile { get; init; }

    [Description("Environment variable holding an HMAC secret (at least 32 bytes) for HS256/384/512. One key source only.")]
    public string? SecretEnv { get; init; }

    [Description("File holding an HMAC secret (at least 32 bytes; surrounding whitespace trimmed). One key source only.")]
    public string? SecretFile { get; init; }

    [Description("Accepted alg values. Default RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512; with a secret, HS256, HS384, HS512. 'none' is never accepted; HS* only with a secret.")]
    public List<string>? Algorithms { get; init; }

    [Description("Tolerance for exp and nbf. Default 30s.")]
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromSeconds(30);

    [Description("How often remote keys (jwksUri, authority) are refreshed in the background. Default 10m.")]
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromMinutes(10);

    [Description("Least time between two key fetches caused by unknown kids or failures. Default 30s.")]
    public TimeSpan RefreshMinInterval { get; init; } = TimeSpan.FromSeconds(30);

    [Description("Claims the token must carry: claim name -> list of accepted values (any of them).")]
    public Dictionary<string, List<string>>? RequiredClaims { get; init; }

    [Description("Also read the token from this cookie. The Authorization: Bearer header is always read.")]
    public string? Cookie { get; init; }

    [Description("Also read the token from this query parameter. Off unless set: URLs end up in logs.")]
    public string? QueryParameter { get; init; }

    [Description("Claim whose value becomes the consumer name. Default sub.")]
    public string ConsumerClaim { get; init; } = "sub";
}

public sealed record ApiKeysProviderDefinition
{
    [Description("Request header carrying the key, e.g. x-api-key. Exactly one of header, queryParameter.")]
    public string? Header { get; init; }

    [Description("Query parameter carrying the key. Exactly one of header, queryParameter.")]
    public string? QueryParameter { get; init; }

    [Description("Consumers by name, each with the SHA-256 hashes of its keys (`meshgate hash-key`). Exactly one of consumers, keysFile.")]
    public Dictionary<string, ApiKeyConsumerDefinition>? Consumers { get; init; }

    [Description("File of lines `consumer sha256hex` (# starts a comment). Read again on every reload. Exactly one of consumers, keysFile.")]
    public string? KeysFile { get; init; }
}

public sealed record ApiKeyConsumerDefinition
{
    [Description("Lowercase or uppercase hex SHA-256 hashes of the consumer's keys (64 hex digits each).")]
    public List<string> Keys { get; init; } = [];

    [Description("Extra claims for this consumer (name -> value), e.g. tier: gold; identityHeaders.claims can forward them.")]
    public Dictionary<string, string>? Metadata { get; init; }
}

public sealed record IdentityHeadersDefinition
{
    [Description("Header that receives the consumer name, e.g. x-consumer.")]
    public string? Consumer { get; init; }

    [Description("Header that receives the subject (JWT sub), e.g. x-subject.")]
    public string? Subject { get; init; }

    [Description("Claim name -> header that receives its value (several values are joined with ',').")]
    public Dictionary<string, string>? Claims { get; init; }
}

public enum CertificateIdentity { CommonName, DnsName, Uri, Subject }

public sealed record ClientCertificateProviderDefinition
{
    [Description("What becomes the consumer: common-name (the subject's CN, the default), dns-name or uri (the first SAN of that kind), or subject (the whole distinguished name). A certificate without it is refused.")]
    public CertificateIdentity Consumer { get; init; } = CertificateIdentity.CommonName;
}
