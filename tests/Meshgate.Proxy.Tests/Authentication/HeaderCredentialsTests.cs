using System.Text;
using Meshgate.Configuration;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.Authentication.ApiKeys;
using Meshgate.Proxy.Authentication.Jwt;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Meshgate.Proxy.Tests.Authentication;

/// <summary>Providers asked with a request's credential header alone, as a caller without HttpContext does.</summary>
public sealed class HeaderCredentialsTests : IDisposable
{
    private const string Issuer = "https://issuer.test";
    private const string Audience = "api";
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("an-hmac-secret-of-at-least-32-bytes-0123456789");

    private readonly HttpClient _http = new();
    private readonly RecordingLogger<JwtProvider> _log = new();

    public void Dispose() => _http.Dispose();

    private JwtProvider Jwt(string? cookie = null, string? queryParameter = null) => new(
        new AuthenticationProviderPolicy("hs", "f",
            new JwtProviderPolicy(new JwtProviderDefinition { Issuer = Issuer, Audiences = [Audience], Cookie = cookie, QueryParameter = queryParameter }, ["HS256"], Secret, null),
            null, null, true),
        _http, TimeProvider.System, _log);

    private static string Token(byte[]? secret = null, DateTime? expires = null)
    {
        var end = expires ?? DateTime.UtcNow.AddMinutes(10);
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = end.AddMinutes(-20),
            NotBefore = end.AddMinutes(-20),
            Expires = end,
            Claims = new Dictionary<string, object> { ["sub"] = "user-1" },
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(secret ?? Secret), SecurityAlgorithms.HmacSha256),
        });
    }

    private static ApiKeyProvider ApiKeys(string? header, string? queryParameter) => new(new AuthenticationProviderPolicy("keys", "f", null,
        new ApiKeysPolicy(header, queryParameter, [new ApiKeyEntry("mobile", Convert.FromHexString(ApiKeyProvider.Hash("k1")), new Dictionary<string, string>())]),
        null, true));

    [Fact]
    public void CredentialHeader_JwtReadingOnlyTheHeader_Authorization() => Assert.Equal("Authorization", Jwt().CredentialHeader);

    [Theory]
    [InlineData("session", null)]
    [InlineData(null, "access_token")]
    public void CredentialHeader_JwtWithCookieOrQueryParameter_Null(string? cookie, string? query) => Assert.Null(Jwt(cookie, query).CredentialHeader);

    [Fact]
    public async Task AuthenticateAsync_ValidBearerToken_AcceptedWithSubjectAsConsumer()
    {
        var outcome = await Jwt().AuthenticateAsync(new StringValues("Bearer " + Token()), "r");

        Assert.Equal("user-1", outcome.Principal!.FindFirst(MeshgateClaims.Consumer)!.Value);
        Assert.Equal("hs", outcome.Principal.FindFirst(MeshgateClaims.Provider)!.Value);
    }

    [Fact]
    public async Task AuthenticateAsync_LowercaseSchemeAndSurroundingSpaces_Accepted()
    {
        var outcome = await Jwt().AuthenticateAsync(new StringValues("bearer   " + Token() + "  "), "r");

        Assert.NotNull(outcome.Principal);
    }

    [Fact]
    public async Task AuthenticateAsync_OtherSecret_RejectedAndLogged()
    {
        var outcome = await Jwt().AuthenticateAsync(new StringValues("Bearer " + Token(Encoding.UTF8.GetBytes("another-hmac-secret-of-at-least-32-bytes-987"))), "r");

        Assert.Equal(AuthenticationOutcome.Rejected, outcome);
        Assert.Contains(_log.Lines, l => l.EventId == Common.EventIds.Authentication + 3 && l.Message.Contains("route r", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AuthenticateAsync_ExpiredToken_Rejected()
    {
        var outcome = await Jwt().AuthenticateAsync(new StringValues("Bearer " + Token(expires: DateTime.UtcNow.AddMinutes(-5))), "r");

        Assert.Equal(AuthenticationOutcome.Rejected, outcome);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer")]
    [InlineData("Bearer    ")]
    public async Task AuthenticateAsync_NoBearerToken_NoCredentials(string? authorization)
    {
        var outcome = await Jwt().AuthenticateAsync(authorization is null ? StringValues.Empty : new StringValues(authorization), "r");

        Assert.Equal(AuthenticationOutcome.NoCredentials, outcome);
    }

    [Theory]
    [InlineData("valid")]
    [InlineData("bad-signature")]
    [InlineData("two-headers")]
    [InlineData("basic")]
    [InlineData("none")]
    public async Task AuthenticateAsync_HeaderOrHttpContext_SameOutcome(string input)
    {
        StringValues authorization = input switch
        {
            "valid" => "Bearer " + Token(),
            "bad-signature" => "Bearer " + Token(Encoding.UTF8.GetBytes("another-hmac-secret-of-at-least-32-bytes-987")),
            "two-headers" => new StringValues(["Bearer " + Token(), "Bearer " + Token()]),
            "basic" => "Basic dXNlcjpwYXNz",
            _ => StringValues.Empty,
        };
        var context = new DefaultHttpContext();
        context.Request.Headers.Authorization = authorization;

        var fromHeader = await Jwt().AuthenticateAsync(authorization, "r");
        var fromContext = await Jwt().AuthenticateAsync(context, "r");

        Assert.Equal(fromContext.CredentialsPresent, fromHeader.CredentialsPresent);
        Assert.Equal(fromContext.Principal is null, fromHeader.Principal is null);
    }

    [Fact]
    public async Task AuthenticateAsync_CachedToken_CompletesSynchronouslyWithoutAllocating()
    {
        var provider = Jwt();
        var authorization = new StringValues("Bearer " + Token());
        var first = await provider.AuthenticateAsync(authorization, "r");
        _ = provider.AuthenticateAsync(authorization, "r");

        var before = GC.GetAllocatedBytesForCurrentThread();
        ValueTask<AuthenticationOutcome> pending = default;
        for (var i = 0; i < 1000; i++) pending = provider.AuthenticateAsync(authorization, "r");
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(pending.IsCompletedSuccessfully);
        Assert.Same(first.Principal, (await pending).Principal);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public async Task TryAcceptCached_OnlyATokenAcceptedBefore()
    {
        var provider = Jwt();
        var token = Token();
        Assert.False(provider.TryAcceptCached("Bearer " + token, out _));
        var first = await provider.AuthenticateAsync(new StringValues("Bearer " + token), "r");

        Assert.True(provider.TryAcceptCached(("bearer  " + token + " ").AsSpan(), out var principal));
        Assert.Same(first.Principal, principal);
        Assert.False(provider.TryAcceptCached("Bearer " + Token(expires: DateTime.UtcNow.AddMinutes(11)), out _));
        Assert.False(provider.TryAcceptCached("Basic " + token, out _));
        // A provider without such a cache never answers from it.
        Assert.False(ApiKeys("x-api-key", null).TryAcceptCached("anything", out _));
    }

    [Fact]
    public async Task AuthenticateAsync_JwtWithCookie_Throws() =>
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await Jwt(cookie: "session").AuthenticateAsync(new StringValues("Bearer " + Token()), "r"));

    [Fact]
    public async Task AuthenticateAsync_JwtWithCookieAndBearerHeader_HttpContextReadsTheHeader()
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.Authorization = "Bearer " + Token();
        context.Request.Headers.Cookie = "session=not-a-token";

        var outcome = await Jwt(cookie: "session").AuthenticateAsync(context, "r");

        Assert.NotNull(outcome.Principal);
    }

    [Fact]
    public async Task AuthenticateAsync_JwtWithCookieAndNoHeader_HttpContextReadsTheCookie()
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.Cookie = "session=" + Token();

        var outcome = await Jwt(cookie: "session").AuthenticateAsync(context, "r");

        Assert.NotNull(outcome.Principal);
    }

    [Fact]
    public void CredentialHeader_ApiKeyInHeader_ThatHeader() => Assert.Equal("x-api-key", ApiKeys("x-api-key", null).CredentialHeader);

    [Fact]
    public void CredentialHeader_ApiKeyInQuery_Null() => Assert.Null(ApiKeys(null, "key").CredentialHeader);

    [Fact]
    public void CredentialHeader_ClientCertificate_Null() => Assert.Null(new ClientCertificateProvider("mtls", CertificateIdentity.CommonName).CredentialHeader);

    [Theory]
    [InlineData("k1", true, true)]
    [InlineData("k2", false, true)]
    [InlineData(null, false, false)]
    public async Task AuthenticateAsync_ApiKeyHeader_AcceptsOnlyAKnownKey(string? key, bool accepted, bool present)
    {
        var outcome = await ApiKeys("x-api-key", null).AuthenticateAsync(key is null ? StringValues.Empty : new StringValues(key), "r");

        Assert.Equal(accepted, outcome.Principal?.FindFirst(MeshgateClaims.Consumer)?.Value == "mobile");
        Assert.Equal(present, outcome.CredentialsPresent);
    }

    [Fact]
    public async Task AuthenticateAsync_ApiKeyInQuery_Throws() =>
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await ApiKeys(null, "key").AuthenticateAsync(new StringValues("k1"), "r"));

    [Fact]
    public async Task AuthenticateAsync_ApiKeyInQuery_HttpContextStillReadsTheQuery()
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString("?key=k1");

        var outcome = await ApiKeys(null, "key").AuthenticateAsync(context, "r");

        Assert.NotNull(outcome.Principal);
    }
}
