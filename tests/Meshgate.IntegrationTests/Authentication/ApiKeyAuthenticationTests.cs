using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Authentication;

public sealed class ApiKeyAuthenticationTests : IAsyncLifetime
{
    private const string MobileKey = "mobile-key-0123456789abcdef";
    private const string WebKey = "web-key-0123456789abcdef";
    private TestUpstream _echo = null!;
    private TestGateway _gateway = null!;

    private static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private string Config(bool withWeb) => $$"""
        routes:
          - { id: keyed, match: { pathPrefix: /keyed }, cluster: echo, auth: [keys] }
          - { id: query, match: { pathPrefix: /query }, cluster: echo, auth: [query-keys] }
        clusters:
          - { id: echo, endpoints: ["{{_echo.Endpoint}}"] }
        authentication:
          keys:
            apiKeys:
              header: x-api-key
              consumers:
                mobile: { keys: [{{Hash(MobileKey)}}], metadata: { tier: gold } }
        {{(withWeb ? $"        web: {{ keys: [{Hash(WebKey)}] }}" : "")}}
            identityHeaders: { consumer: x-consumer, claims: { tier: x-tier } }
          query-keys:
            apiKeys: { queryParameter: apikey, keysFile: keys.txt }
        """;

    public async Task InitializeAsync()
    {
        _echo = await EchoUpstream.StartAsync();
        var directory = TempDirectory.Create();
        await File.WriteAllTextAsync(Path.Combine(directory, "keys.txt"), $"# consumer sha256\nmobile {Hash(MobileKey)}\n");
        _gateway = await TestGateway.StartAsync(Config(withWeb: true), directory);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _echo.DisposeAsync();
    }

    private Task<HttpResponseMessage> SendAsync(string path, string? key, Action<HttpRequestMessage>? setup = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null) request.Headers.Add("x-api-key", key);
        setup?.Invoke(request);
        return _gateway.Client.SendAsync(request);
    }

    [Fact]
    public async Task ValidKey_ForwardsConsumerAndMetadata_ForgedCopiesStripped()
    {
        using var response = await SendAsync("/keyed/x", MobileKey, r => { r.Headers.Add("x-consumer", "admin"); r.Headers.Add("x-tier", "platinum"); });
        var echoed = await EchoedRequest.ReadAsync(response);
        Assert.Equal("mobile", echoed.Header("x-consumer"));
        Assert.Equal("gold", echoed.Header("x-tier"));

        using var web = await SendAsync("/keyed/x", WebKey, r => r.Headers.Add("x-tier", "platinum"));
        var webEchoed = await EchoedRequest.ReadAsync(web);
        Assert.Equal("web", webEchoed.Header("x-consumer"));
        Assert.Null(webEchoed.Header("x-tier"));
    }

    [Theory]
    [InlineData(null, "An API key is required (header x-api-key).", "missing-credentials")]
    [InlineData("wrong-key", "The API key is not valid (header x-api-key).", "invalid-credentials")]
    public async Task MissingOrInvalidKey_401WithApiKeyChallenge(string? key, string detail, string code)
    {
        using var response = await SendAsync("/keyed/x", key);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("ApiKey header=\"x-api-key\"", response.Headers.WwwAuthenticate.ToString());
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(detail, body.GetProperty("detail").GetString());
        Assert.Equal(code, response.Headers.GetValues("x-meshgate-error").Single());
    }

    [Fact]
    public async Task KeysFileAndQueryParameter_Accepted()
    {
        using var ok = await SendAsync("/query/x?apikey=" + MobileKey, null);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using var header = await SendAsync("/query/x", MobileKey);
        Assert.Equal(HttpStatusCode.Unauthorized, header.StatusCode);
        Assert.Equal("ApiKey query=\"apikey\"", header.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task RevokedByReload_Rejected()
    {
        using (var before = await SendAsync("/keyed/x", WebKey)) Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        var generation = await _gateway.GenerationAsync();
        await _gateway.RewriteConfigAsync(Config(withWeb: false));
        using (var reload = await _gateway.Admin.PostAsync("/admin/reload", null)) Assert.Equal(HttpStatusCode.OK, reload.StatusCode);
        await Eventually.HoldsAsync(async () => await _gateway.GenerationAsync() > generation, TimeSpan.FromSeconds(10), "the reload is applied");

        using var revoked = await SendAsync("/keyed/x", WebKey);
        Assert.Equal(HttpStatusCode.Unauthorized, revoked.StatusCode);
        using var kept = await SendAsync("/keyed/x", MobileKey);
        Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
    }
}
