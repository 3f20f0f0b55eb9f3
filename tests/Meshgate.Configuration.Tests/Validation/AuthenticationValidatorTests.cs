namespace Meshgate.Configuration.Tests.Validation;

public sealed class AuthenticationValidatorTests
{
    // Lines 1-3 hold a listener, a cluster and a route using provider 'main'; "authentication:" is line 4.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters: [{ id: c, endpoints: [http://10.0.0.1] }]\nroutes: [{ id: r, match: { path: /a }, cluster: c, auth: [main] }]\n";
    private const string Hash = "85dbe15d75ef9308c7ae0f33c7a324cc6f4bf519a2ed2f3027bd33c140a4f9aa";
    private const string Jwks = "{ issuer: https://id.example.com, audiences: [api], jwksUri: https://id.example.com/jwks";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // One kind per provider.
        { Head + "authentication:\n  main: {}\n", 5, "authentication.main", "give exactly one of jwt, apiKeys, clientCertificate (found 0)" },
        { Head + "authentication:\n  main:\n    clientCertificate: { consumer: uri }\n", 6, "authentication.main.clientCertificate", "no listener asks for client certificates" },
        { Head + "authentication:\n  main:\n    clientCertificate: { consumer: email }\n", 6, "authentication.main.clientCertificate.consumer", "expected one of common-name, dns-name, uri, subject" },
        { Head + "authentication:\n  main:\n    jwt: " + Jwks + " }\n    apiKeys: { header: x-api-key, consumers: { a: { keys: [" + Hash + "] } } }\n", 5, "authentication.main", "give exactly one of jwt, apiKeys, clientCertificate (found 2)" },

        // JWT key sources and algorithms.
        { Head + "authentication:\n  main:\n    jwt: { issuer: https://id.example.com, audiences: [api] }\n", 6, "authentication.main.jwt", "give exactly one key source: jwksUri, authority, publicKeyFile, secretEnv or secretFile (found 0)" },
        { Head + "authentication:\n  main:\n    jwt: { issuer: i, audiences: [api], jwksUri: https://a/jwks, authority: https://a }\n", 6, "authentication.main.jwt", "(found 2)" },
        { Head + "authentication:\n  main:\n    jwt:\n      issuer: i\n      audiences: [api]\n      jwksUri: ftp://a/jwks\n", 9, "authentication.main.jwt.jwksUri", "'ftp://a/jwks' is not an absolute http:// or https:// URL" },
        { Head + "authentication:\n  main:\n    jwt: { issuer: i, audiences: [], jwksUri: https://a/jwks }\n", 6, "authentication.main.jwt.audiences", "list at least one accepted audience" },
        { Head + "authentication:\n  main:\n    jwt:\n      issuer: i\n      audiences: [api]\n      jwksUri: https://a/jwks\n      algorithms: [RS256, none]\n", 10, "authentication.main.jwt.algorithms[1]", "'none' is never accepted" },
        { Head + "authentication:\n  main:\n    jwt:\n      issuer: i\n      audiences: [api]\n      jwksUri: https://a/jwks\n      algorithms: [HS256]\n", 10, "authentication.main.jwt.algorithms[0]", "HS256 needs an HMAC secret (secretEnv or secretFile)" },
        { Head + "authentication:\n  main:\n    jwt:\n      issuer: i\n      audiences: [api]\n      jwksUri: https://a/jwks\n      algorithms: [RS257]\n", 10, "authentication.main.jwt.algorithms[0]", "'RS257' is not a supported algorithm" },
        { Head + "authentication:\n  main:\n    jwt:\n      issuer: i\n      audiences: [api]\n      secretEnv: MESHGATE_TEST_UNSET_SECRET_ENV\n", 9, "authentication.main.jwt.secretEnv", "environment variable 'MESHGATE_TEST_UNSET_SECRET_ENV' is not set" },
        { Head + "authentication:\n  main:\n    jwt:\n      issuer: i\n      audiences: [api]\n      secretFile: nope.key\n", 9, "authentication.main.jwt.secretFile", "file 'nope.key' does not exist" },
        { Head + "authentication:\n  main:\n    jwt:\n      issuer: i\n      audiences: [api]\n      jwksUri: https://a/jwks\n      refreshMinInterval: 10ms\n", 10, "authentication.main.jwt.refreshMinInterval", "must be at least 1s" },
        { Head + "authentication:\n  main:\n    jwt:\n      issuer: i\n      audiences: [api]\n      jwksUri: https://a/jwks\n      requiredClaims:\n        tenant: []\n", 11, "authentication.main.jwt.requiredClaims.tenant", "list at least one accepted value" },
        { Head + "authentication:\n  main:\n    jwt: { audiences: [api], jwksUri: https://a/jwks }\n", 6, "authentication.main.jwt.issuer", "" },

        // API keys.
        { Head + "authentication:\n  main:\n    apiKeys: { consumers: { a: { keys: [" + Hash + "] } } }\n", 6, "authentication.main.apiKeys", "give exactly one of header, queryParameter (found 0)" },
        { Head + "authentication:\n  main:\n    apiKeys: { header: x-api-key }\n", 6, "authentication.main.apiKeys", "give exactly one of consumers, keysFile (found 0)" },
        { Head + "authentication:\n  main:\n    apiKeys:\n      header: 'x api key'\n      consumers: { a: { keys: [" + Hash + "] } }\n", 7, "authentication.main.apiKeys.header", "'x api key' is not a valid header name" },
        { Head + "authentication:\n  main:\n    apiKeys:\n      header: x-api-key\n      consumers:\n        mobile:\n          keys: [my-plain-key]\n", 10, "authentication.main.apiKeys.consumers.mobile.keys[0]", "must be a SHA-256 hash: 64 hex digits" },
        { Head + "authentication:\n  main:\n    apiKeys:\n      header: x-api-key\n      keysFile: keys.txt\n", 8, "authentication.main.apiKeys.keysFile", "file 'keys.txt' does not exist" },

        // Identity headers.
        { Head + "authentication:\n  main:\n    apiKeys: { header: x-api-key, consumers: { a: { keys: [" + Hash + "] } } }\n    identityHeaders:\n      consumer: 'x consumer'\n", 8, "authentication.main.identityHeaders.consumer", "'x consumer' is not a valid header name" },

        // Route references.
        { Head.Replace("auth: [main]", "auth: [mainn]") + "authentication:\n  main:\n    apiKeys: { header: x-api-key, consumers: { a: { keys: [" + Hash + "] } } }\n", 3, "routes[0].auth[0]", "unknown authentication provider 'mainn' (did you mean 'main'?)" },
        { Head.Replace("auth: [main]", "auth: [billing]") + "authentication:\n  main:\n    apiKeys: { header: x-api-key, consumers: { a: { keys: [" + Hash + "] } } }\n", 3, "routes[0].auth[0]", "unknown authentication provider 'billing' (defined: main)" },
        { Head, 3, "routes[0].auth[0]", "unknown authentication provider 'main' (no providers are defined under authentication)" },
        { Head.Replace("auth: [main]", "auth: []"), 3, "routes[0].auth", "an empty list authenticates nothing" },
        { Head.Replace("auth: [main]", "anonymous: true"), 3, "routes[0].anonymous", "has no effect without auth" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidAuthentication_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Compile_ShortHmacSecret_IsAnError()
    {
        var directory = TestKit.TempDirectory.Create();
        File.WriteAllText(Path.Combine(directory, "hs.key"), "too-short");
        ConfigText.AssertSingleError(Head + "authentication:\n  main:\n    jwt:\n      issuer: i\n      audiences: [api]\n      secretFile: hs.key\n", 9,
            "authentication.main.jwt.secretFile", "the secret is 9 bytes; HMAC secrets must be at least 32 bytes", directory);
    }

    [Fact]
    public void Compile_KeysFileWithBadLine_NamesTheLine()
    {
        var directory = TestKit.TempDirectory.Create();
        File.WriteAllText(Path.Combine(directory, "keys.txt"), $"# consumers\nmobile {Hash}\nweb not-a-hash\n");
        ConfigText.AssertSingleError(Head + "authentication:\n  main:\n    apiKeys:\n      header: x-api-key\n      keysFile: keys.txt\n", 8,
            "authentication.main.apiKeys.keysFile", "'keys.txt' line 3: expected 'consumer sha256hex'", directory);
    }

    [Fact]
    public void Compile_ValidProviders_RoutePolicyListsThemAndStripsIdentityHeadersEverywhere()
    {
        var snapshot = ConfigText.Snapshot("listeners: [{ name: public, address: 127.0.0.1:8080 }]\nclusters: [{ id: c, endpoints: [http://10.0.0.1] }]\n"
            + "routes:\n  - { id: r, match: { path: /a }, cluster: c, auth: [keys, main], anonymous: true }\n  - { id: open, match: { path: /b }, cluster: c }\n"
            + "authentication:\n  main:\n    jwt: " + Jwks + " }\n  keys:\n    apiKeys: { header: x-api-key, consumers: { a: { keys: [" + Hash + "] } } }\n    identityHeaders: { consumer: x-consumer }\n");
        var policy = snapshot.RoutePolicies["r"].Authentication!;
        Assert.Equal(["keys", "main"], policy.Providers.Select(p => p.Name));
        Assert.True(policy.Anonymous);
        Assert.Equal(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"], policy.Providers[1].Jwt!.Algorithms);
        var open = snapshot.RoutePolicies["open"].Authentication!;
        Assert.Empty(open.Providers);
        Assert.Equal(["x-consumer"], open.StripHeaders);
    }
}
