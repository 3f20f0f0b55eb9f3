using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Meshgate.TestKit;
using Microsoft.IdentityModel.Tokens;

namespace Meshgate.IntegrationTests.Authentication;

public sealed class JwtAuthenticationTests : IAsyncLifetime
{
    private const string HmacSecret = "an-hmac-secret-of-at-least-32-bytes-0123456789";
    private readonly RsaSecurityKey _rsa = JwksUpstream.NewRsaKey("rsa-1");
    private readonly ECDsaSecurityKey _ec = JwksUpstream.NewEcKey("ec-1");
    private JwksUpstream _jwks = null!;
    private TestUpstream _echo = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _jwks = await JwksUpstream.StartAsync();
        _jwks.Publish(_rsa, _ec);
        _echo = await EchoUpstream.StartAsync();
        var directory = TempDirectory.Create();
        await File.WriteAllTextAsync(Path.Combine(directory, "hs.key"), HmacSecret + "\n");
        _gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: jwt, match: { pathPrefix: /jwt }, cluster: echo, auth: [idp] }
              - { id: oidc, match: { pathPrefix: /oidc }, cluster: echo, auth: [discovered] }
              - { id: hs, match: { pathPrefix: /hs }, cluster: echo, auth: [hs] }
              - { id: anon, match: { pathPrefix: /anon }, cluster: echo, auth: [idp], anonymous: true }
              - { id: down, match: { pathPrefix: /down }, cluster: echo, auth: [unreachable] }
              - { id: open, match: { pathPrefix: /open }, cluster: echo }
            clusters:
              - { id: echo, endpoints: ["{{_echo.Endpoint}}"] }
            authentication:
              idp:
                jwt:
                  issuer: {{JwksUpstream.Issuer}}
                  audiences: [{{JwksUpstream.Audience}}]
                  jwksUri: {{_jwks.JwksUri}}
                  refreshMinInterval: 1s
                  cookie: session
                  requiredClaims: { email_verified: ["true"] }
                identityHeaders:
                  consumer: x-consumer
                  subject: x-subject
                  claims: { email: x-email }
              discovered:
                jwt: { issuer: {{JwksUpstream.Issuer}}, audiences: [{{JwksUpstream.Audience}}], authority: {{_jwks.Authority}}, queryParameter: access_token }
              hs:
                jwt: { issuer: {{JwksUpstream.Issuer}}, audiences: [{{JwksUpstream.Audience}}], secretFile: hs.key }
                forwardAuthorization: false
              unreachable:
                jwt: { issuer: {{JwksUpstream.Issuer}}, audiences: [{{JwksUpstream.Audience}}], jwksUri: "http://127.0.0.1:9/jwks.json" }
            """, directory);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _echo.DisposeAsync();
        await _jwks.DisposeAsync();
    }

    private static Dictionary<string, object> Claims(string sub = "user-1") =>
        new() { ["sub"] = sub, ["email"] = sub + "@example.com", ["email_verified"] = "true", ["scope"] = "orders.read" };

    private async Task<HttpResponseMessage> SendAsync(string path, string? token, Action<HttpRequestMessage>? setup = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null) request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        setup?.Invoke(request);
        return await _gateway.Client.SendAsync(request);
    }

    private static async Task AssertUnauthorizedAsync(HttpResponseMessage response, string challenge)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(challenge, response.Headers.WwwAuthenticate.ToString());
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.False(response.Headers.Contains(EchoUpstream.Marker));
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(401, JsonDocument.Parse(body).RootElement.GetProperty("status").GetInt32());
        // The body says what is wrong, never which check failed.
        Assert.DoesNotContain("IDX", body);
        Assert.DoesNotContain("signature", body, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(SecurityAlgorithms.RsaSha256)]
    [InlineData(SecurityAlgorithms.RsaSsaPssSha256)]
    [InlineData(SecurityAlgorithms.EcdsaSha256)]
    public async Task ValidToken_IsForwardedWithIdentityHeaders(string algorithm)
    {
        SecurityKey key = algorithm == SecurityAlgorithms.EcdsaSha256 ? _ec : _rsa;
        var token = JwksUpstream.Mint(key, algorithm, claims: Claims());
        using var response = await SendAsync("/jwt/orders", token);
        var echoed = await EchoedRequest.ReadAsync(response);
        Assert.Equal("user-1", echoed.Header("x-consumer"));
        Assert.Equal("user-1", echoed.Header("x-subject"));
        Assert.Equal("user-1@example.com", echoed.Header("x-email"));
        Assert.Equal("Bearer " + token, echoed.Header("authorization"));
    }

    [Fact]
    public async Task ValidToken_RepeatedFromCache_StillAccepted()
    {
        var token = JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: Claims());
        for (var i = 0; i < 3; i++)
        {
            using var response = await SendAsync("/jwt/x", token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task NoToken_401BearerWithoutError()
    {
        using var response = await SendAsync("/jwt/x", null);
        await AssertUnauthorizedAsync(response, "Bearer");
        Assert.Contains("bearer token is required", await response.Content.ReadAsStringAsync());
    }

    public static TheoryData<string> BadTokens => new()
    {
        "alg-none", "hs-with-rsa-public-key", "expired", "not-yet-valid", "wrong-issuer", "wrong-audience",
        "tampered-payload", "signature-stripped", "missing-required-claim", "garbage", "unknown-signing-key",
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task BadToken_401InvalidToken(string kind)
    {
        var valid = JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: Claims());
        var parts = valid.Split('.');
        var token = kind switch
        {
            "alg-none" => JwksUpstream.Base64Url("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + parts[1] + ".",
            // The classic confusion: sign HS256 with the RSA public key (as the attacker knows it) as the secret.
            "hs-with-rsa-public-key" => JwksUpstream.Mint(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(_rsa.Rsa.ExportSubjectPublicKeyInfoPem())) { KeyId = "rsa-1" },
                SecurityAlgorithms.HmacSha256, claims: Claims()),
            "expired" => JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, d => { d.NotBefore = DateTime.UtcNow.AddMinutes(-20); d.Expires = DateTime.UtcNow.AddMinutes(-5); }, Claims()),
            "not-yet-valid" => JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, d => { d.NotBefore = DateTime.UtcNow.AddMinutes(5); d.Expires = DateTime.UtcNow.AddMinutes(20); }, Claims()),
            "wrong-issuer" => JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, d => d.Issuer = "https://evil.test", Claims()),
            "wrong-audience" => JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, d => d.Audience = "other-api", Claims()),
            "tampered-payload" => parts[0] + "." + JwksUpstream.Base64Url(Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(parts[1])).Replace("user-1", "admin")) + "." + parts[2],
            "signature-stripped" => parts[0] + "." + parts[1] + ".",
            "missing-required-claim" => JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: new Dictionary<string, object> { ["sub"] = "user-1" }),
            "garbage" => "not-a-jwt",
            "unknown-signing-key" => JwksUpstream.Mint(new RsaSecurityKey(RSA.Create(2048)) { KeyId = "rsa-1" }, SecurityAlgorithms.RsaSha256, claims: Claims()),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        using var response = await SendAsync("/jwt/x", token);
        await AssertUnauthorizedAsync(response, "Bearer error=\"invalid_token\"");
        Assert.Contains("invalid or expired", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TokenInQuery_WhenNotConfigured_IsIgnored()
    {
        var token = JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: Claims());
        using var response = await SendAsync("/jwt/x?access_token=" + token, null);
        await AssertUnauthorizedAsync(response, "Bearer");
    }

    [Fact]
    public async Task TokenInCookieOrConfiguredQuery_IsAccepted()
    {
        var token = JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: Claims());
        using var cookie = await SendAsync("/jwt/x", null, r => r.Headers.Add("Cookie", "session=" + token));
        Assert.Equal(HttpStatusCode.OK, cookie.StatusCode);
        // The discovered provider finds its keys through /.well-known/openid-configuration.
        using var query = await SendAsync("/oidc/x?access_token=" + token, null);
        Assert.Equal(HttpStatusCode.OK, query.StatusCode);
    }

    [Fact]
    public async Task UnknownKid_BecomesValidAfterRotationAndRefetch()
    {
        var rotated = JwksUpstream.NewRsaKey("rsa-2");
        var token = JwksUpstream.Mint(rotated, SecurityAlgorithms.RsaSha256, claims: Claims());
        using (var before = await SendAsync("/jwt/x", token)) await AssertUnauthorizedAsync(before, "Bearer error=\"invalid_token\"");

        _jwks.Rotate(_rsa, _ec, rotated);
        // Refetches for unknown kids are spaced by refreshMinInterval (1s here), so the new key arrives on a later request.
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await SendAsync("/jwt/x", token);
            return response.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(10), "the rotated key is fetched after an unknown kid");
    }

    [Fact]
    public async Task KeyRemovedFromJwks_TokensItSignedAreRefusedAfterRefetch()
    {
        var token = JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: Claims());
        using (var before = await SendAsync("/jwt/x", token)) Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        var replacement = JwksUpstream.NewRsaKey("rsa-2");
        _jwks.Rotate(replacement, _ec);
        var next = JwksUpstream.Mint(replacement, SecurityAlgorithms.RsaSha256, claims: Claims());
        // The new kid triggers the refetch (once refreshMinInterval has passed); the cached old token must not outlive it.
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await SendAsync("/jwt/x", next);
            return response.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(10), "the replacement key is fetched");
        using var after = await SendAsync("/jwt/x", token);
        await AssertUnauthorizedAsync(after, "Bearer error=\"invalid_token\"");
    }

    [Fact]
    public async Task JwksDown_KeysAlreadyFetchedKeepWorking()
    {
        var token = JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: Claims());
        using (var first = await SendAsync("/jwt/x", token)) Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        _jwks.Down = true;
        var fetches = _jwks.Fetches;
        // An unknown kid forces a refetch, which fails; a fresh token (not cached) still validates with the old keys.
        var unknown = JwksUpstream.Mint(JwksUpstream.NewRsaKey("rsa-9"), SecurityAlgorithms.RsaSha256, claims: Claims());
        using (var refused = await SendAsync("/jwt/x", unknown)) Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        var fresh = JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: Claims("user-2"));
        using var response = await SendAsync("/jwt/x", fresh);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(fetches, _jwks.Fetches);
    }

    [Fact]
    public async Task NoKeysAtAll_401()
    {
        var token = JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: Claims());
        using var response = await SendAsync("/down/x", token);
        await AssertUnauthorizedAsync(response, "Bearer error=\"invalid_token\"");
    }

    [Fact]
    public async Task Hs256WithSecret_AcceptedAndAuthorizationDropped()
    {
        var token = JwksUpstream.Mint(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(HmacSecret)), SecurityAlgorithms.HmacSha256, claims: Claims());
        using var response = await SendAsync("/hs/x", token);
        var echoed = await EchoedRequest.ReadAsync(response);
        Assert.Null(echoed.Header("authorization"));
        // An RS256 token is refused by the HMAC provider: its algorithms are HS* only.
        using var rs = await SendAsync("/hs/x", JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: Claims()));
        Assert.Equal(HttpStatusCode.Unauthorized, rs.StatusCode);
    }

    [Fact]
    public async Task ForgedIdentityHeaders_AreStripped_OnAuthenticatedAndPublicRoutes()
    {
        var token = JwksUpstream.Mint(_rsa, SecurityAlgorithms.RsaSha256, claims: new Dictionary<string, object> { ["sub"] = "user-1", ["email_verified"] = "true" });
        void Forge(HttpRequestMessage r)
        {
            r.Headers.Add("x-consumer", "admin");
            r.Headers.Add("x-subject", "admin");
            r.Headers.Add("x-email", "admin@example.com");
        }
        using var authenticated = await SendAsync("/jwt/x", token, Forge);
        var echoed = await EchoedRequest.ReadAsync(authenticated);
        Assert.Equal("user-1", echoed.Header("x-consumer"));
        Assert.Null(echoed.Header("x-email"));

        using var open = await SendAsync("/open/x", null, Forge);
        var openEchoed = await EchoedRequest.ReadAsync(open);
        Assert.Null(openEchoed.Header("x-consumer"));
        Assert.Null(openEchoed.Header("x-subject"));
        Assert.Null(openEchoed.Header("x-email"));
    }

    [Fact]
    public async Task Anonymous_NoTokenPasses_BadTokenStill401()
    {
        using var none = await SendAsync("/anon/x", null, r => r.Headers.Add("x-consumer", "admin"));
        var echoed = await EchoedRequest.ReadAsync(none);
        Assert.Null(echoed.Header("x-consumer"));
        using var bad = await SendAsync("/anon/x", "not-a-jwt");
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
    }
}
