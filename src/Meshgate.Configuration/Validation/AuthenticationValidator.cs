using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>Checks the authentication providers and the routes' references to them.</summary>
internal static class AuthenticationValidator
{
    public static readonly string[] AsymmetricAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];
    public static readonly string[] HmacAlgorithms = ["HS256", "HS384", "HS512"];

    public static void Validate(MeshgateDefinition definition, ValidationContext context)
    {
        foreach (var (name, provider) in definition.Authentication)
        {
            var path = $"authentication.{name}";
            if (name.Length == 0) context.Error(path, "the provider name must not be empty");
            var kinds = (provider.Jwt is not null ? 1 : 0) + (provider.ApiKeys is not null ? 1 : 0) + (provider.ClientCertificate is not null ? 1 : 0);
            if (kinds != 1) context.Error(path, $"give exactly one of jwt, apiKeys, clientCertificate (found {kinds})");
            if (provider.ClientCertificate is not null && !definition.Listeners.Any(l => l.Tls?.ClientCertificates is ClientCertificates.Allow or ClientCertificates.Require))
            {
                context.Error($"{path}.clientCertificate", "no listener asks for client certificates: set tls.clientCertificates (allow or require) and tls.clientCa on a listener");
            }
            if (provider.Jwt is { } jwt) ValidateJwt(jwt, $"{path}.jwt", context);
            if (provider.ApiKeys is { } apiKeys) ValidateApiKeys(apiKeys, $"{path}.apiKeys", context);
            if (provider.IdentityHeaders is { } headers)
            {
                var headersPath = $"{path}.identityHeaders";
                CheckHeaderName(headers.Consumer, $"{headersPath}.consumer", context);
                CheckHeaderName(headers.Subject, $"{headersPath}.subject", context);
                foreach (var (claim, header) in headers.Claims ?? []) CheckHeaderName(header, $"{headersPath}.claims.{claim}", context);
            }
        }

        var names = definition.Authentication.Keys.ToList();
        for (var i = 0; i < definition.Routes.Count; i++)
        {
            var route = definition.Routes[i];
            var path = $"routes[{i}]";
            if (route.Auth is { Count: 0 }) context.Error($"{path}.auth", "an empty list authenticates nothing; leave auth out for a public route");
            for (var j = 0; j < (route.Auth?.Count ?? 0); j++)
            {
                var reference = route.Auth![j];
                if (definition.Authentication.ContainsKey(reference)) continue;
                context.UnknownReference($"{path}.auth[{j}]", "authentication provider", reference, names, "no providers are defined under authentication");
            }
            if (route.Anonymous && route.Auth is null) context.Error($"{path}.anonymous", "has no effect without auth");
        }
    }

    private static void ValidateJwt(JwtProviderDefinition jwt, string path, ValidationContext context)
    {
        if (jwt.Audiences.Count == 0) context.Error($"{path}.audiences", "list at least one accepted audience (the token's aud)");
        var sources = new (string Key, string? Value)[]
        {
            ("jwksUri", jwt.JwksUri), ("authority", jwt.Authority), ("publicKeyFile", jwt.PublicKeyFile), ("secretEnv", jwt.SecretEnv), ("secretFile", jwt.SecretFile),
        }.Where(s => s.Value is not null).ToList();
        if (sources.Count != 1)
        {
            context.Error(path, $"give exactly one key source: jwksUri, authority, publicKeyFile, secretEnv or secretFile (found {sources.Count})");
        }
        CheckUrl(jwt.JwksUri, $"{path}.jwksUri", context);
        CheckUrl(jwt.Authority, $"{path}.authority", context);
        context.CheckFile($"{path}.publicKeyFile", jwt.PublicKeyFile);
        context.CheckFile($"{path}.secretFile", jwt.SecretFile);
        if (jwt.SecretEnv is { } env && Environment.GetEnvironmentVariable(env) is null)
        {
            context.Error($"{path}.secretEnv", $"environment variable '{env}' is not set");
        }

        var secret = jwt.SecretEnv is not null || jwt.SecretFile is not null;
        if (jwt.Algorithms is { } algorithms)
        {
            if (algorithms.Count == 0) context.Error($"{path}.algorithms", "an empty list accepts no token; leave algorithms out for the default");
            for (var i = 0; i < algorithms.Count; i++)
            {
                var alg = algorithms[i];
                var itemPath = $"{path}.algorithms[{i}]";
                if (string.Equals(alg, "none", StringComparison.OrdinalIgnoreCase))
                {
                    context.Error(itemPath, "'none' is never accepted: an unsigned token proves nothing");
                }
                else if (HmacAlgorithms.Contains(alg, StringComparer.Ordinal))
                {
                    if (!secret) context.Error(itemPath, $"{alg} needs an HMAC secret (secretEnv or secretFile); with public keys it would let anyone who knows the public key sign tokens");
                }
                else if (AsymmetricAlgorithms.Contains(alg, StringComparer.Ordinal))
                {
                    if (secret) context.Error(itemPath, $"{alg} needs a public key (jwksUri, authority or publicKeyFile), not a secret");
                }
                else
                {
                    context.Error(itemPath, $"'{alg}' is not a supported algorithm (one of {string.Join(", ", AsymmetricAlgorithms.Concat(HmacAlgorithms))})");
                }
            }
        }
        if (jwt.ClockSkew < TimeSpan.Zero) context.Error($"{path}.clockSkew", "must not be negative");
        if (jwt.RefreshInterval <= TimeSpan.Zero) context.Error($"{path}.refreshInterval", "must be greater than zero");
        if (jwt.RefreshMinInterval < TimeSpan.FromSeconds(1)) context.Error($"{path}.refreshMinInterval", "must be at least 1s, so unknown kids cannot make the gateway hammer the key server");
        foreach (var (claim, values) in jwt.RequiredClaims ?? [])
        {
            if (values.Count == 0) context.Error($"{path}.requiredClaims.{claim}", "list at least one accepted value");
        }
        if (jwt.Cookie is { Length: 0 }) context.Error($"{path}.cookie", "must not be empty");
        if (jwt.QueryParameter is { Length: 0 }) context.Error($"{path}.queryParameter", "must not be empty");
        if (jwt.ConsumerClaim.Length == 0) context.Error($"{path}.consumerClaim", "must not be empty");
    }

    private static void ValidateApiKeys(ApiKeysProviderDefinition apiKeys, string path, ValidationContext context)
    {
        var places = (apiKeys.Header is not null ? 1 : 0) + (apiKeys.QueryParameter is not null ? 1 : 0);
        if (places != 1) context.Error(path, $"give exactly one of header, queryParameter (found {places})");
        CheckHeaderName(apiKeys.Header, $"{path}.header", context);
        if (apiKeys.QueryParameter is { Length: 0 }) context.Error($"{path}.queryParameter", "must not be empty");
        var stores = (apiKeys.Consumers is not null ? 1 : 0) + (apiKeys.KeysFile is not null ? 1 : 0);
        if (stores != 1) context.Error(path, $"give exactly one of consumers, keysFile (found {stores})");
        foreach (var (consumer, definition) in apiKeys.Consumers ?? [])
        {
            var consumerPath = $"{path}.consumers.{consumer}";
            if (definition.Keys.Count == 0) context.Error($"{consumerPath}.keys", "list at least one key hash (meshgate hash-key prints one)");
            for (var i = 0; i < definition.Keys.Count; i++)
            {
                if (!IsSha256Hex(definition.Keys[i]))
                {
                    context.Error($"{consumerPath}.keys[{i}]", "must be a SHA-256 hash: 64 hex digits (meshgate hash-key prints it); never the key itself");
                }
            }
        }
        context.CheckFile($"{path}.keysFile", apiKeys.KeysFile);
    }

    internal static bool IsSha256Hex(string value) => value.Length == 64 && value.All(Uri.IsHexDigit);

    private static void CheckUrl(string? url, string path, ValidationContext context)
    {
        if (url is null) return;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            context.Error(path, $"'{url}' is not an absolute http:// or https:// URL");
        }
    }

    private static void CheckHeaderName(string? name, string path, ValidationContext context)
    {
        if (name is not null && !Common.HttpSyntax.IsToken(name)) context.Error(path, $"'{name}' is not a valid header name");
    }
}
