using System.Security.Cryptography;
using System.Text;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Validation;

namespace Meshgate.Configuration.Compilation;

/// <summary>Builds the per-route authentication policies; reads secrets, public keys and key files (again on every reload).</summary>
internal static class AuthenticationCompiler
{
    public static IReadOnlyDictionary<string, AuthenticationProviderPolicy> CompileProviders(MeshgateDefinition definition, ValidationContext context)
    {
        var providers = new Dictionary<string, AuthenticationProviderPolicy>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, provider) in definition.Authentication)
        {
            var path = $"authentication.{name}";
            // The definition as its stored JSON (secrets kept): reflection over the model the config reader already keeps,
            // where JsonSerializer's reflection would need a source-generated context under Native AOT.
            var material = new StringBuilder(DefinitionJson.ToStoredJson(provider)!.ToJsonString());
            JwtProviderPolicy? jwt = null;
            ApiKeysPolicy? apiKeys = null;
            if (provider.Jwt is { } j) jwt = CompileJwt(j, $"{path}.jwt", context, material);
            if (provider.ApiKeys is { } a) apiKeys = CompileApiKeys(a, $"{path}.apiKeys", context, material);
            var headers = provider.IdentityHeaders;
            providers[name] = new AuthenticationProviderPolicy(name, ConfigCompiler.VersionOf(material.ToString()), jwt, apiKeys,
                headers is null ? null : new IdentityHeadersPolicy(headers.Consumer, headers.Subject, headers.Claims?.ToList() ?? []),
                provider.ForwardAuthorization)
            {
                ClientCertificate = provider.ClientCertificate,
            };
        }
        return providers;
    }

    /// <summary>
    /// Every route gets a policy when any provider sets identity headers, so those headers are stripped
    /// even on public routes: an upstream shared by several routes must never see a forged copy.
    /// </summary>
    public static RouteAuthenticationPolicy? CompileRoute(RouteDefinition route, IReadOnlyDictionary<string, AuthenticationProviderPolicy> providers)
    {
        var strip = providers.Values.SelectMany(p => p.IdentityHeaders?.HeaderNames ?? []).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        if (route.Auth is null && strip.Length == 0) return null;
        var list = (route.Auth ?? []).Select(n => providers[n]).ToArray();
        return new RouteAuthenticationPolicy(list, route.Auth is null || route.Anonymous, strip);
    }

    private static JwtProviderPolicy CompileJwt(JwtProviderDefinition jwt, string path, ValidationContext context, StringBuilder material)
    {
        byte[]? secret = null;
        string? publicKeyPem = null;
        try
        {
            if (jwt.SecretEnv is { } env) secret = Encoding.UTF8.GetBytes(Environment.GetEnvironmentVariable(env)?.Trim() ?? "");
            if (jwt.SecretFile is { } file) secret = Encoding.UTF8.GetBytes(File.ReadAllText(context.ResolvePath(file)).Trim());
            if (jwt.PublicKeyFile is { } pem) publicKeyPem = File.ReadAllText(context.ResolvePath(pem));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The message names the file, never its content.
            context.Error(path, $"cannot read key material: {e.Message}");
        }
        // HS256 needs a key at least as long as its output; IdentityModel would refuse shorter ones on every request.
        if (secret is not null && secret.Length < 32)
        {
            context.Error(jwt.SecretEnv is not null ? $"{path}.secretEnv" : $"{path}.secretFile", $"the secret is {secret.Length} bytes; HMAC secrets must be at least 32 bytes");
        }
        if (secret is not null) material.Append('|').Append(Convert.ToHexString(SHA256.HashData(secret)));
        if (publicKeyPem is not null)
        {
            material.Append('|').Append(publicKeyPem);
            if (!publicKeyPem.Contains("-----BEGIN ", StringComparison.Ordinal)) context.Error($"{path}.publicKeyFile", "holds no PEM block (-----BEGIN PUBLIC KEY----- or -----BEGIN CERTIFICATE-----)");
        }
        var algorithms = jwt.Algorithms?.Where(a => !string.Equals(a, "none", StringComparison.OrdinalIgnoreCase)).ToArray()
            ?? (secret is not null ? AuthenticationValidator.HmacAlgorithms : AuthenticationValidator.AsymmetricAlgorithms);
        return new JwtProviderPolicy(jwt, algorithms, secret, publicKeyPem);
    }

    private static ApiKeysPolicy CompileApiKeys(ApiKeysProviderDefinition apiKeys, string path, ValidationContext context, StringBuilder material)
    {
        var entries = new List<ApiKeyEntry>();
        foreach (var (consumer, definition) in apiKeys.Consumers ?? [])
        {
            var metadata = definition.Metadata ?? new Dictionary<string, string>();
            entries.AddRange(definition.Keys.Where(AuthenticationValidator.IsSha256Hex).Select(k => new ApiKeyEntry(consumer, Convert.FromHexString(k), metadata)));
        }
        if (apiKeys.KeysFile is { } file)
        {
            string[] lines = [];
            try
            {
                lines = File.ReadAllLines(context.ResolvePath(file));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                context.Error($"{path}.keysFile", $"cannot read '{file}': {e.Message}");
            }
            var empty = new Dictionary<string, string>();
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i].Trim();
                if (line.Length == 0 || line.StartsWith('#')) continue;
                var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length != 2 || !AuthenticationValidator.IsSha256Hex(parts[1]))
                {
                    context.Error($"{path}.keysFile", $"'{file}' line {i + 1}: expected 'consumer sha256hex'");
                    continue;
                }
                entries.Add(new ApiKeyEntry(parts[0], Convert.FromHexString(parts[1]), empty));
                material.Append('|').Append(line);
            }
        }
        return new ApiKeysPolicy(apiKeys.Header, apiKeys.QueryParameter, entries);
    }
}
