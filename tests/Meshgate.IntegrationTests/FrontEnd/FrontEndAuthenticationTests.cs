using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Meshgate.Proxy.FrontEnd;
using Meshgate.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;

namespace Meshgate.IntegrationTests.FrontEnd;

/// <summary>
/// Authenticated routes under the direct front end (docs/front-end.md): bearer tokens and API keys read from their header,
/// with the pipeline's providers, answered as the pipeline's step answers (run with <c>frontEnd: auto</c> and
/// <c>frontEnd: kestrel</c> and compared); routes whose providers read anything else go to Kestrel.
/// </summary>
public sealed class FrontEndAuthenticationTests : IAsyncLifetime
{
    private const string Secret = "an-hmac-secret-of-at-least-32-bytes-0123456789";
    private const string MobileKey = "mobile-key-1";
    private const string WebKey = "web-key-1";
    private readonly string _directory = TempDirectory.Create();
    private TestUpstream _echo = null!;

    public async Task InitializeAsync()
    {
        _echo = await EchoUpstream.StartAsync();
        await File.WriteAllTextAsync(Path.Combine(_directory, "hs.key"), Secret + "\n");
    }

    public async Task DisposeAsync() => await _echo.DisposeAsync();

    private static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private Task<TestGateway> StartAsync(string frontEnd) => TestGateway.StartAsync($$"""
        listeners:
          - name: web
            address: 127.0.0.1:0
            frontEnd: {{frontEnd}}
        routes:
          - { id: jwt, match: { pathPrefix: /jwt }, cluster: echo, auth: [hs] }
          - { id: either, match: { pathPrefix: /either }, cluster: echo, auth: [keys, hs] }
          - { id: anon, match: { pathPrefix: /anon }, cluster: echo, auth: [hs], anonymous: true }
          - { id: per-consumer, match: { pathPrefix: /per-consumer }, cluster: echo, auth: [keys], rateLimit: per-consumer }
          - { id: cookie, match: { pathPrefix: /cookie }, cluster: echo, auth: [cookie] }
        clusters:
          - { id: echo, endpoints: ["{{_echo.Endpoint}}"] }
        rateLimits:
          per-consumer: { algorithm: fixed-window, limit: 1, window: 1h, key: consumer }
        authentication:
          hs:
            jwt: { issuer: {{JwksUpstream.Issuer}}, audiences: [{{JwksUpstream.Audience}}], secretFile: hs.key }
            identityHeaders: { consumer: x-consumer, subject: x-subject, claims: { email: x-email } }
            forwardAuthorization: false
          keys:
            apiKeys:
              header: x-api-key
              consumers:
                mobile: { keys: [{{Hash(MobileKey)}}] }
                web: { keys: [{{Hash(WebKey)}}] }
            identityHeaders: { consumer: x-consumer }
          cookie:
            jwt: { issuer: {{JwksUpstream.Issuer}}, audiences: [{{JwksUpstream.Audience}}], secretFile: hs.key, cookie: session }
        """, _directory);

    private static DirectFrontEnd FrontEnd(TestGateway gateway) => gateway.Host.Gateway.Services.GetRequiredService<DirectFrontEnd>();

    private static string Token(string sub = "user-1", string secret = Secret) => JwksUpstream.Mint(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(secret)), SecurityAlgorithms.HmacSha256,
        claims: new Dictionary<string, object> { ["sub"] = sub, ["email"] = sub + "@example.com", ["consumer"] = sub });

    private static HttpRequestMessage Request(string path, string? authorization = null, string? apiKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
        if (apiKey is not null) request.Headers.TryAddWithoutValidation("x-api-key", apiKey);
        // Forged identity: the gateway's own replaces or strips it.
        request.Headers.TryAddWithoutValidation("x-consumer", "forged");
        request.Headers.TryAddWithoutValidation("x-email", "forged@example.com");
        return request;
    }

    /// <summary>What a client sees: status, challenges, and either the problem's fields or the identity the upstream got.</summary>
    private static async Task<string> SeenAsync(HttpResponseMessage response)
    {
        var text = new StringBuilder($"{(int)response.StatusCode} challenge={string.Join(" | ", response.Headers.WwwAuthenticate.Select(h => h.ToString()))}");
        if (response.StatusCode == HttpStatusCode.OK)
        {
            var echoed = await EchoedRequest.ReadAsync(response);
            foreach (var name in new[] { "authorization", "x-api-key", "x-consumer", "x-subject", "x-email" }) text.Append($" {name}={echoed.Header(name) ?? "-"}");
        }
        else
        {
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            foreach (var field in new[] { "type", "title", "detail", "instance" }) text.Append($" {field}={problem.RootElement.GetProperty(field)}");
        }
        return text.ToString();
    }

    private async Task<(List<string> Seen, long Served, long HandOffs)> RunAsync(string frontEnd, params Func<HttpRequestMessage>[] requests)
    {
        await using var gateway = await StartAsync(frontEnd);
        var seen = new List<string>();
        foreach (var request in requests)
        {
            using var message = request();
            using var response = await gateway.Client.SendAsync(message);
            seen.Add(await SeenAsync(response));
        }
        return (seen, FrontEnd(gateway).Served, FrontEnd(gateway).HandOffs);
    }

    [Fact]
    public async Task BearerToken_ServedByTheFrontEnd_AnswersAndForwardsAsThePipeline()
    {
        var token = Token();
        Func<HttpRequestMessage>[] requests =
        [
            () => Request("/jwt/a", "Bearer " + token),
            // The same token again: the provider's cache answers.
            () => Request("/jwt/b", "bearer   " + token + "  "),
            () => Request("/jwt/c"),
            () => Request("/jwt/d", "Bearer " + Token(secret: "another-secret-of-at-least-32-bytes-0123456789")),
            () => Request("/jwt/e", "Basic dXNlcjpwYXNz"),
            () => Request("/anon/f"),
            () => Request("/anon/g", "Bearer not-a-token"),
        ];
        var direct = await RunAsync("auto", requests);
        var pipeline = await RunAsync("kestrel", requests);

        Assert.Equal(pipeline.Seen, direct.Seen);
        Assert.Equal((7, 0), (direct.Served, direct.HandOffs));
        var seen = direct.Seen;
        // Accepted: the identity from the token, the client's forged copies gone, the token kept from the upstream.
        Assert.Equal("200 challenge= authorization=- x-api-key=- x-consumer=user-1 x-subject=user-1 x-email=user-1@example.com", seen[0]);
        Assert.Equal(seen[0], seen[1]);
        Assert.Equal("401 challenge=Bearer type=https://meshgate.dev/errors/missing-credentials title=Unauthorized "
            + "detail=A bearer token is required (Authorization: Bearer <token>). instance=/jwt/c", seen[2]);
        Assert.StartsWith("401 challenge=Bearer error=\"invalid_token\" type=https://meshgate.dev/errors/invalid-credentials", seen[3]);
        Assert.StartsWith("401 challenge=Bearer type=https://meshgate.dev/errors/missing-credentials", seen[4]);
        // Anonymous allowed: on without identity (forged copies stripped); a bad token is still refused.
        Assert.Equal("200 challenge= authorization=- x-api-key=- x-consumer=- x-subject=- x-email=-", seen[5]);
        Assert.StartsWith("401 challenge=Bearer error=\"invalid_token\"", seen[6]);
    }

    [Fact]
    public async Task TwoProviders_EitherAccepts_TheOneThatSawCredentialsExplains()
    {
        Func<HttpRequestMessage>[] requests =
        [
            () => Request("/either/a", apiKey: MobileKey),
            () => Request("/either/b", "Bearer " + Token("user-2")),
            () => Request("/either/c", apiKey: "wrong"),
            () => Request("/either/d"),
        ];
        var direct = await RunAsync("auto", requests);
        var pipeline = await RunAsync("kestrel", requests);

        Assert.Equal(pipeline.Seen, direct.Seen);
        Assert.Equal(4, direct.Served);
        // The API key provider forwards its header (no forwardAuthorization: false here) and names the consumer.
        Assert.Equal($"200 challenge= authorization=- x-api-key={MobileKey} x-consumer=mobile x-subject=- x-email=-", direct.Seen[0]);
        Assert.StartsWith("200 challenge= authorization=- x-api-key=- x-consumer=user-2", direct.Seen[1]);
        Assert.StartsWith("401 challenge=ApiKey header=\"x-api-key\" type=https://meshgate.dev/errors/invalid-credentials", direct.Seen[2]);
        Assert.StartsWith("401 challenge=ApiKey header=\"x-api-key\" | Bearer type=https://meshgate.dev/errors/missing-credentials", direct.Seen[3]);
    }

    [Fact]
    public async Task ConsumerKeyedRateLimit_CountsEachConsumerApart()
    {
        Func<HttpRequestMessage>[] requests =
        [
            () => Request("/per-consumer/1", apiKey: MobileKey),
            () => Request("/per-consumer/2", apiKey: MobileKey),
            () => Request("/per-consumer/3", apiKey: WebKey),
        ];
        var direct = await RunAsync("auto", requests);

        Assert.Equal(["200", "429", "200"], direct.Seen.Select(s => s[..3]));
        Assert.Equal(3, direct.Served);
    }

    [Fact]
    public async Task CookieProvider_RouteGoesToKestrel_AndExplainSaysWhy()
    {
        await using var gateway = await StartAsync("auto");
        using var request = Request("/cookie/a");
        request.Headers.TryAddWithoutValidation("Cookie", "session=" + Token());
        using var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal((0, 1), (FrontEnd(gateway).Served, FrontEnd(gateway).HandOffs));
        using var explanation = JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/explain?method=GET&path=/cookie/a"));
        Assert.Equal("kestrel: an authentication provider of the route reads a client certificate, a cookie or a query parameter",
            explanation.RootElement.GetProperty("policies").GetProperty("frontEnd").GetString());
    }
}
