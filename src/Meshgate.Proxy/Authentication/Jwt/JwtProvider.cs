using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Meshgate.Proxy.Authentication.Jwt;

/// <summary>
/// Validates signed JWTs with IdentityModel's <see cref="JsonWebTokenHandler"/>. Accepted tokens are
/// remembered until their exp, so a client repeating its token pays for one signature check.
/// </summary>
internal sealed partial class JwtProvider : AuthenticationProvider
{
    private const int CacheCapacity = 10_000;

    private readonly AuthenticationProviderPolicy _provider;
    private readonly JwtProviderPolicy _policy;
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly TokenValidationParameters _parameters;
    private readonly IReadOnlyList<SecurityKey>? _staticKeys;
    private readonly RemoteKeySource? _remoteKeys;
    private readonly string? _keySource;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, (ClaimsPrincipal Principal, DateTimeOffset Expires)> _accepted = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (ClaimsPrincipal Principal, DateTimeOffset Expires)>.AlternateLookup<ReadOnlySpan<char>> _acceptedBySpan;
    private readonly string? _credentialHeader;
    private int _noKeysLogged;

    public JwtProvider(AuthenticationProviderPolicy provider, HttpClient http, TimeProvider time, ILogger logger)
    {
        _provider = provider;
        _policy = provider.Jwt!;
        _acceptedBySpan = _accepted.GetAlternateLookup<ReadOnlySpan<char>>();
        _time = time;
        _logger = logger;
        var definition = _policy.Definition;
        _credentialHeader = definition.Cookie is null && definition.QueryParameter is null ? "Authorization" : null;
        _parameters = new TokenValidationParameters
        {
            ValidIssuer = definition.Issuer,
            ValidAudiences = definition.Audiences,
            ValidAlgorithms = _policy.Algorithms,
            ClockSkew = definition.ClockSkew,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            RequireAudience = true,
            ValidateLifetime = true,
            TryAllIssuerSigningKeys = true,
            NameClaimType = MeshgateClaims.Subject,
            RoleClaimType = MeshgateClaims.Role,
            AuthenticationType = "meshgate:" + provider.Name,
        };
        if (_policy.Secret is { } secret)
        {
            _staticKeys = [new SymmetricSecurityKey(secret)];
        }
        else if (_policy.PublicKeyPem is { } pem)
        {
            _staticKeys = [PublicKeyFromPem(pem)];
        }
        else
        {
            var jwksUri = definition.JwksUri;
            var authority = definition.Authority;
            _keySource = jwksUri ?? authority;
            _remoteKeys = new RemoteKeySource(
                async cancellationToken =>
                {
                    var uri = jwksUri;
                    if (uri is null)
                    {
                        var discovery = OpenIdConnectConfiguration.Create(await http.GetStringAsync(authority!.TrimEnd('/') + "/.well-known/openid-configuration", cancellationToken));
                        uri = discovery.JwksUri ?? throw new InvalidOperationException("the discovery document names no jwks_uri");
                    }
                    var set = new JsonWebKeySet(await http.GetStringAsync(uri, cancellationToken));
                    // Only asymmetric keys: a JWKS must never make a symmetric (HS*) key out of public material.
                    return set.GetSigningKeys().Where(k => k is RsaSecurityKey or ECDsaSecurityKey or X509SecurityKey
                        || k is JsonWebKey { Kty: JsonWebAlgorithmsKeyTypes.RSA or JsonWebAlgorithmsKeyTypes.EllipticCurve }).ToList();
                },
                definition.RefreshInterval, definition.RefreshMinInterval, time,
                count =>
                {
                    Interlocked.Exchange(ref _noKeysLogged, 0);
                    // A key removed from the set revokes the tokens it signed, including those accepted before.
                    _accepted.Clear();
                    Log.KeysFetched(_logger, provider.Name, count, _keySource!);
                },
                (e, kept) =>
                {
                    var reason = e.GetType().Name + ": " + e.Message;
                    // Without any keys every token fails: one error line says so (until keys arrive), not one per request.
                    if (kept > 0) Log.KeysFetchFailed(_logger, provider.Name, _keySource!, reason, kept);
                    else if (Interlocked.Exchange(ref _noKeysLogged, 1) == 0) Log.NoSigningKeys(_logger, provider.Name, _keySource!, reason);
                });
        }
    }

    private static SecurityKey PublicKeyFromPem(string pem)
    {
        if (pem.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            return new X509SecurityKey(X509Certificate2.CreateFromPem(pem));
        }
        try
        {
            var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            return new RsaSecurityKey(rsa);
        }
        catch (ArgumentException)
        {
            var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            return new ECDsaSecurityKey(ec);
        }
    }

    public override string? CredentialHeader => _credentialHeader;

    public override ValueTask<AuthenticationOutcome> AuthenticateAsync(HttpContext context, string routeId)
    {
        var authorization = context.Request.Headers.Authorization;
        // A Bearer header is the token even when a cookie or query parameter is configured: those are read only without one.
        if (_credentialHeader is not null || IsBearer(authorization)) return FromAuthorization(authorization, routeId);
        var request = context.Request;
        string? token = null;
        if (_policy.Definition.Cookie is { } cookie && request.Cookies[cookie] is { Length: > 0 } fromCookie) token = fromCookie;
        else if (_policy.Definition.QueryParameter is { } query && request.Query[query].ToString() is { Length: > 0 } fromQuery) token = fromQuery;
        return ValidateAsync(token, routeId);
    }

    public override ValueTask<AuthenticationOutcome> AuthenticateAsync(StringValues credentialHeader, string routeId)
    {
        if (_credentialHeader is null) throw new InvalidOperationException($"JWT provider {_provider.Name} also reads a cookie or query parameter; the Authorization header alone cannot decide.");
        return FromAuthorization(credentialHeader, routeId);
    }

    /// <summary>The outcome for the token in these Authorization values (none when they are not Bearer).</summary>
    private ValueTask<AuthenticationOutcome> FromAuthorization(StringValues authorization, string routeId)
    {
        // The common case, a bearer token seen before, is answered without entering the (large) state machine of the validating path.
        if (authorization.Count == 1 && TryAcceptCached(authorization[0], out var principal)) return ValueTask.FromResult(AuthenticationOutcome.Accepted(principal));
        // Several values are read joined (as one comma-separated value), so a second token makes the first malformed, not ignored.
        var value = authorization.ToString();
        var token = value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? value["Bearer ".Length..].Trim() : "";
        return token.Length == 0 ? ValueTask.FromResult(AuthenticationOutcome.NoCredentials) : ValidateAsync(token, routeId);
    }

    private static bool IsBearer(StringValues authorization) => authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase);

    /// <param name="token">The token the request carries, or null when it carries none this provider reads.</param>
    private async ValueTask<AuthenticationOutcome> ValidateAsync(string? token, string routeId)
    {
        if (token is null) return AuthenticationOutcome.NoCredentials;
        if (_accepted.TryGetValue(token, out var cached))
        {
            if (cached.Expires > _time.GetUtcNow()) return AuthenticationOutcome.Accepted(cached.Principal);
            _accepted.TryRemove(token, out _);
        }

        JsonWebToken jwt;
        try
        {
            jwt = _handler.ReadJsonWebToken(token);
        }
        catch (Exception e) when (e is ArgumentException or SecurityTokenException)
        {
            Log.TokenRejected(_logger, _provider.Name, routeId, "malformed");
            return AuthenticationOutcome.Rejected;
        }

        var keys = _staticKeys ?? await _remoteKeys!.GetAsync(jwt.TryGetHeaderValue<string>("kid", out var kid) ? kid : null);
        if (keys.Count == 0) return AuthenticationOutcome.Rejected;
        var parameters = _parameters.Clone();
        parameters.IssuerSigningKeys = keys;
        var result = await _handler.ValidateTokenAsync(jwt, parameters);
        if (!result.IsValid)
        {
            Log.TokenRejected(_logger, _provider.Name, routeId, result.Exception?.GetType().Name ?? "invalid");
            return AuthenticationOutcome.Rejected;
        }
        foreach (var (claim, accepted) in _policy.Definition.RequiredClaims ?? [])
        {
            if (!result.ClaimsIdentity.FindAll(claim).Any(c => accepted.Contains(c.Value, StringComparer.Ordinal)))
            {
                Log.TokenRejected(_logger, _provider.Name, routeId, $"required claim {claim}");
                return AuthenticationOutcome.Rejected;
            }
        }

        var principal = PrincipalOf(result.ClaimsIdentity);
        if (_accepted.Count >= CacheCapacity) _accepted.Clear();
        _accepted[token] = (principal, jwt.ValidTo == DateTime.MinValue ? _time.GetUtcNow() : new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero));
        return AuthenticationOutcome.Accepted(principal);
    }

    /// <summary>A bearer token seen before is looked up by span: no token string is allocated.</summary>
    public override bool TryAcceptCached(ReadOnlySpan<char> authorization, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ClaimsPrincipal? principal)
    {
        if (BearerToken(authorization) is { IsEmpty: false } span && _acceptedBySpan.TryGetValue(span, out var hit) && hit.Expires > _time.GetUtcNow())
        {
            principal = hit.Principal;
            return true;
        }
        principal = null;
        return false;
    }

    private static ReadOnlySpan<char> BearerToken(ReadOnlySpan<char> authorization) =>
        authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : default;

    /// <summary>The token's claims in <see cref="MeshgateClaims"/>' vocabulary: scopes split, roles singular, consumer and provider added.</summary>
    private ClaimsPrincipal PrincipalOf(ClaimsIdentity validated)
    {
        var claims = new List<Claim>();
        foreach (var claim in validated.Claims)
        {
            switch (claim.Type)
            {
                case "scope" or "scp":
                    claims.AddRange(claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => new Claim(MeshgateClaims.Scope, s)));
                    break;
                case "roles":
                    claims.Add(new Claim(MeshgateClaims.Role, claim.Value));
                    break;
                default:
                    if (claim.Type is not (MeshgateClaims.Consumer or MeshgateClaims.Provider)) claims.Add(new Claim(claim.Type, claim.Value, claim.ValueType));
                    break;
            }
        }
        if (validated.FindFirst(_policy.Definition.ConsumerClaim) is { } consumer) claims.Add(new Claim(MeshgateClaims.Consumer, consumer.Value));
        claims.Add(new Claim(MeshgateClaims.Provider, _provider.Name));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, "meshgate:" + _provider.Name, MeshgateClaims.Subject, MeshgateClaims.Role));
    }

    public override string Challenge(bool rejected) => rejected ? "Bearer error=\"invalid_token\"" : "Bearer";

    public override string Detail(bool rejected) => rejected
        ? "The bearer token is invalid or expired."
        : "A bearer token is required (Authorization: Bearer <token>).";

    private static partial class Log
    {
        [LoggerMessage(EventId = Common.EventIds.Authentication + 0, Level = LogLevel.Information, Message = "Authentication provider {Provider}: fetched {KeyCount} signing keys from {Source}")]
        public static partial void KeysFetched(ILogger logger, string provider, int keyCount, string source);

        [LoggerMessage(EventId = Common.EventIds.Authentication + 1, Level = LogLevel.Warning, Message = "Authentication provider {Provider}: fetching signing keys from {Source} failed ({Reason}); still using the {KeyCount} keys fetched before")]
        public static partial void KeysFetchFailed(ILogger logger, string provider, string source, string reason, int keyCount);

        [LoggerMessage(EventId = Common.EventIds.Authentication + 2, Level = LogLevel.Error, Message = "Authentication provider {Provider} has no signing keys: fetching them from {Source} failed ({Reason}); every token is rejected with 401 until a fetch succeeds")]
        public static partial void NoSigningKeys(ILogger logger, string provider, string source, string reason);

        [LoggerMessage(EventId = Common.EventIds.Authentication + 3, Level = LogLevel.Debug, Message = "Authentication provider {Provider} rejected a token on route {Route}: {Reason}")]
        public static partial void TokenRejected(ILogger logger, string provider, string route, string reason);
    }
}
