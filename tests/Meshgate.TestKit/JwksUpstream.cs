using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Meshgate.TestKit;

/// <summary>
/// A real identity provider stand-in: serves /.well-known/jwks.json and an OIDC discovery document from
/// the keys it currently publishes, mints tokens with them, can rotate keys and can fail on purpose.
/// </summary>
public sealed class JwksUpstream : IAsyncDisposable
{
    private readonly object _lock = new();
    private readonly List<SecurityKey> _published = [];
    private TestUpstream _upstream = null!;
    private int _fetches;

    public const string Issuer = "https://issuer.test";
    public const string Audience = "api";

    public string JwksUri => _upstream.Endpoint + "/.well-known/jwks.json";
    public string Authority => _upstream.Endpoint;

    /// <summary>How often the JWKS document was fetched.</summary>
    public int Fetches => Volatile.Read(ref _fetches);

    /// <summary>When true, every request gets 500.</summary>
    public bool Down { get; set; }

    public static async Task<JwksUpstream> StartAsync()
    {
        var jwks = new JwksUpstream();
        jwks._upstream = await TestUpstream.StartAsync(app =>
        {
            app.Use((context, next) =>
            {
                if (!jwks.Down) return next(context);
                context.Response.StatusCode = 500;
                return Task.CompletedTask;
            });
            app.MapGet("/.well-known/jwks.json", () =>
            {
                Interlocked.Increment(ref jwks._fetches);
                lock (jwks._lock)
                {
                    var keys = jwks._published.Select(k => JsonWebKeyConverter.ConvertFromSecurityKey(k)).Select(ToJson);
                    return Results.Text("{\"keys\":[" + string.Join(",", keys) + "]}", "application/json");
                }
            });
            app.MapGet("/.well-known/openid-configuration", () =>
                Results.Text($"{{\"issuer\":\"{Issuer}\",\"jwks_uri\":\"{jwks.JwksUri}\"}}", "application/json"));
        });
        return jwks;
    }

    private static string ToJson(JsonWebKey key)
    {
        var fields = new Dictionary<string, string?> { ["kty"] = key.Kty, ["kid"] = key.Kid, ["use"] = "sig", ["n"] = key.N, ["e"] = key.E, ["crv"] = key.Crv, ["x"] = key.X, ["y"] = key.Y };
        return System.Text.Json.JsonSerializer.Serialize(fields.Where(f => f.Value is not null).ToDictionary(f => f.Key, f => f.Value));
    }

    public static RsaSecurityKey NewRsaKey(string kid) => new(RSA.Create(2048)) { KeyId = kid };

    public static ECDsaSecurityKey NewEcKey(string kid) => new(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = kid };

    public void Publish(params SecurityKey[] keys)
    {
        lock (_lock) _published.AddRange(keys);
    }

    /// <summary>Publishes exactly these keys from now on.</summary>
    public void Rotate(params SecurityKey[] keys)
    {
        lock (_lock)
        {
            _published.Clear();
            _published.AddRange(keys);
        }
    }

    /// <summary>A token for <see cref="Issuer"/> and <see cref="Audience"/>; <paramref name="adjust"/> changes the descriptor.</summary>
    public static string Mint(SecurityKey key, string algorithm, Action<SecurityTokenDescriptor>? adjust = null, IDictionary<string, object>? claims = null)
    {
        var now = DateTime.UtcNow;
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = now,
            NotBefore = now.AddMinutes(-1),
            Expires = now.AddMinutes(10),
            Claims = claims ?? new Dictionary<string, object> { ["sub"] = "user-1", ["email"] = "user-1@example.com", ["scope"] = "orders.read orders.write" },
            SigningCredentials = new SigningCredentials(key, algorithm),
        };
        adjust?.Invoke(descriptor);
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    public static string Base64Url(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));

    public ValueTask DisposeAsync() => _upstream.DisposeAsync();
}
