using System.Globalization;
using System.Net;
using Meshgate.IntegrationTests.Forwarding;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Listeners;

/// <summary>limits.maxRequestBodySize as documented: default 30MiB, an explicit size, and 413 problem+json past it.</summary>
public sealed class ListenerBodyLimitTests : IAsyncLifetime
{
    private const long MiB = 1024 * 1024;

    private TestUpstream _upstream = null!;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await TestUpstream.StartAsync(app => app.MapPost("/count", async (HttpContext context) =>
        {
            var (count, _) = await GeneratedContent.DrainAsync(context.Request.Body, context.RequestAborted);
            await context.Response.WriteAsync(count.ToString(CultureInfo.InvariantCulture));
        }));
        _gateway = await TestGateway.StartAsync($$"""
            listeners:
              - name: default-limit
                address: 127.0.0.1:0
              - name: small-limit
                address: 127.0.0.1:0
                limits: { maxRequestBodySize: 1MiB }
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: counter }
            clusters:
              - { id: counter, endpoints: ["{{_upstream.Endpoint}}"] }
            """);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    /// <summary>Posts a generated body with Expect: 100-continue, so a refused body is never sent and the 413 arrives cleanly.</summary>
    private async Task<HttpResponseMessage> PostAsync(string listener, long bytes)
    {
        var url = _gateway.Host.ListenerUrls.Single(l => l.Name == listener).Url;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(url, "/count")) { Content = new GeneratedContent(bytes) };
        request.Headers.ExpectContinue = true;
        return await _gateway.Client.SendAsync(request);
    }

    [Theory]
    [InlineData("default-limit", 30 * MiB)]
    [InlineData("small-limit", 1 * MiB)]
    public async Task Body_AtTheLimit_IsForwardedWhole(string listener, long bytes)
    {
        using var response = await PostAsync(listener, bytes);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(bytes.ToString(CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("default-limit", 30 * MiB + 1)]
    [InlineData("small-limit", 1 * MiB + 1)]
    public async Task Body_OverTheLimit_Is413ProblemJson(string listener, long bytes)
    {
        using var response = await PostAsync(listener, bytes);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("body-too-large", response.Headers.GetValues("x-meshgate-error").Single());
    }
}
