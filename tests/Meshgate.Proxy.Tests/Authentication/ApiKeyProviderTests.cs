using Meshgate.Configuration;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.Authentication.ApiKeys;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Tests.Authentication;

public sealed class ApiKeyProviderTests
{
    private static ApiKeyProvider Provider() => new(new AuthenticationProviderPolicy("keys", "f", null,
        new ApiKeysPolicy("x-api-key", null, [new ApiKeyEntry("mobile", Convert.FromHexString(ApiKeyProvider.Hash("k1")), new Dictionary<string, string> { ["tier"] = "gold" })]),
        null, true));

    private static HttpContext Request(string? key)
    {
        var context = new DefaultHttpContext();
        if (key is not null) context.Request.Headers["x-api-key"] = key;
        return context;
    }

    [Fact]
    public async Task AuthenticateAsync_KnownKey_AcceptedWithConsumerProviderAndMetadata()
    {
        var outcome = await Provider().AuthenticateAsync(Request("k1"), "r");
        Assert.Equal("mobile", outcome.Principal!.FindFirst(MeshgateClaims.Consumer)!.Value);
        Assert.Equal("keys", outcome.Principal.FindFirst(MeshgateClaims.Provider)!.Value);
        Assert.Equal("gold", outcome.Principal.FindFirst("tier")!.Value);
    }

    [Theory]
    [InlineData("k2", true)]
    [InlineData(null, false)]
    public async Task AuthenticateAsync_UnknownOrMissingKey_NoPrincipal(string? key, bool present)
    {
        var outcome = await Provider().AuthenticateAsync(Request(key), "r");
        Assert.Null(outcome.Principal);
        Assert.Equal(present, outcome.CredentialsPresent);
    }
}
