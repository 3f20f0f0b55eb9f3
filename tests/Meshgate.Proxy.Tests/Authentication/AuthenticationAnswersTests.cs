using System.Security.Claims;
using Meshgate.Configuration;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Authentication;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Proxy.Tests.Authentication;

public sealed class AuthenticationAnswersTests : IDisposable
{
    private static readonly AuthenticationProviderPolicy Jwt = new("idp", "f",
        new JwtProviderPolicy(new JwtProviderDefinition { Issuer = "https://issuer.test", Audiences = ["api"] }, ["HS256"], new byte[32], null), null, null, true);

    private static readonly AuthenticationProviderPolicy OtherJwt = Jwt with { Name = "idp2" };

    private static readonly AuthenticationProviderPolicy Keys = new("keys", "f", null, new ApiKeysPolicy("x-api-key", null, []), null, true);

    private readonly AuthenticationProviders _providers = new(TimeProvider.System, NullLoggerFactory.Instance);

    public void Dispose() => _providers.Dispose();

    private static RouteAuthenticationPolicy Route(bool anonymous, params AuthenticationProviderPolicy[] providers) => new(providers, anonymous, []);

    [Fact]
    public void Unauthorized_OneOfTwoRejected_OnlyItsChallengeAndDetail()
    {
        var answer = AuthenticationAnswers.Unauthorized(Route(false, Jwt, Keys), _providers, [AuthenticationOutcome.NoCredentials, AuthenticationOutcome.Rejected]);

        Assert.Equal(["ApiKey header=\"x-api-key\""], answer!.Challenges);
        Assert.Equal("The API key is not valid (header x-api-key).", answer.Detail);
        Assert.Equal(AuthenticationMetrics.InvalidCredentials, answer.Reason);
    }

    [Fact]
    public void Unauthorized_NonePresented_EachProvidersChallengeOnce()
    {
        var answer = AuthenticationAnswers.Unauthorized(Route(false, Jwt, Keys, OtherJwt), _providers,
            [AuthenticationOutcome.NoCredentials, AuthenticationOutcome.NoCredentials, AuthenticationOutcome.NoCredentials]);

        Assert.Equal(["Bearer", "ApiKey header=\"x-api-key\""], answer!.Challenges);
        Assert.Equal("A bearer token is required (Authorization: Bearer <token>). An API key is required (header x-api-key).", answer.Detail);
        Assert.Equal(AuthenticationMetrics.MissingCredentials, answer.Reason);
    }

    [Fact]
    public void Unauthorized_AnonymousRouteWithoutCredentials_Null() =>
        Assert.Null(AuthenticationAnswers.Unauthorized(Route(true, Jwt, Keys), _providers, [AuthenticationOutcome.NoCredentials, AuthenticationOutcome.NoCredentials]));

    [Fact]
    public void Unauthorized_AnonymousRouteWithRejectedCredentials_Answers401()
    {
        var answer = AuthenticationAnswers.Unauthorized(Route(true, Jwt, Keys), _providers, [AuthenticationOutcome.Rejected, AuthenticationOutcome.NoCredentials]);

        Assert.Equal(["Bearer error=\"invalid_token\""], answer!.Challenges);
        Assert.Equal(AuthenticationMetrics.InvalidCredentials, answer.Reason);
    }

    [Fact]
    public void Unauthorized_OutcomesNotMatchingProviders_Throws() =>
        Assert.Throws<ArgumentException>(() => AuthenticationAnswers.Unauthorized(Route(false, Jwt, Keys), _providers, [AuthenticationOutcome.NoCredentials]));

    private static ClaimsPrincipal Principal(params (string Type, string Value)[] claims) =>
        new(new ClaimsIdentity(claims.Select(c => new Claim(c.Type, c.Value)), "test"));

    private static AuthenticationProviderPolicy WithHeaders(bool forwardAuthorization = true) => Jwt with
    {
        IdentityHeaders = new IdentityHeadersPolicy("x-consumer", "x-subject", [new("scope", "x-scopes"), new("email", "x-email")]),
        ForwardAuthorization = forwardAuthorization,
    };

    [Fact]
    public void IdentityHeaders_ConsumerSubjectAndClaims_SetInOrderWithSeveralValuesJoined()
    {
        var headers = new List<KeyValuePair<string, string>>();

        AuthenticationAnswers.IdentityHeaders(WithHeaders(), Principal((MeshgateClaims.Consumer, "mobile"), (MeshgateClaims.Subject, "user-1"), ("scope", "a"), ("scope", "b")), headers);

        Assert.Equal([new("x-consumer", "mobile"), new("x-subject", "user-1"), new("x-scopes", "a,b")], headers);
    }

    [Theory]
    [InlineData("user-1\r\nx-admin: true")]
    [InlineData("user\u0000")]
    [InlineData("user\u007f")]
    public void IdentityHeaders_ValueWithControlCharacters_LeftOut(string subject)
    {
        var headers = new List<KeyValuePair<string, string>>();

        AuthenticationAnswers.IdentityHeaders(WithHeaders(), Principal((MeshgateClaims.Consumer, "mobile"), (MeshgateClaims.Subject, subject)), headers);

        Assert.Equal([new("x-consumer", "mobile")], headers);
    }

    [Fact]
    public void IdentityHeaders_ProviderWithoutIdentityHeaders_None()
    {
        var headers = new List<KeyValuePair<string, string>>();

        AuthenticationAnswers.IdentityHeaders(Jwt, Principal((MeshgateClaims.Consumer, "mobile")), headers);

        Assert.Empty(headers);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void RemovesAuthorization_ForwardAuthorization_Opposite(bool forward, bool removes) =>
        Assert.Equal(removes, AuthenticationAnswers.RemovesAuthorization(WithHeaders(forward)));
}
