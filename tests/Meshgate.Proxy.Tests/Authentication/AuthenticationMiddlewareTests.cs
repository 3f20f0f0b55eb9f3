using System.Text;
using Meshgate.Configuration;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.Authentication.ApiKeys;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Tests.TestSupport;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.IdentityModel.Tokens;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.Authentication;

/// <summary>The middleware with a fake next; the real pipeline is covered by the integration tests.</summary>
public sealed class AuthenticationMiddlewareTests : IDisposable
{
    private const string Secret = "an-hmac-secret-of-at-least-32-bytes-0123456789";
    private readonly AuthenticationProviders _providers = new(TimeProvider.System, NullLoggerFactory.Instance);

    public void Dispose() => _providers.Dispose();

    private AuthenticationMiddleware Middleware(RequestDelegate next, string provider)
    {
        var directory = TempDirectory.Create();
        File.WriteAllText(Path.Combine(directory, "hs.key"), Secret);
        var yaml = $$"""
            listeners: [{ name: public, address: 127.0.0.1:8080 }]
            clusters: [{ id: echo, endpoints: [http://10.0.0.1] }]
            routes: [{ id: r, match: { path: /r }, cluster: echo, auth: [p] }]
            authentication:
              p:
                {{provider}}
            """;
        var result = ConfigLoader.Load(yaml, "meshgate.yaml", directory);
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return new AuthenticationMiddleware(next, new SnapshotAccessor(result.Snapshot!), _providers, new AuthenticationMetrics(TestMeters.Factory));
    }

    private static DefaultHttpContext Request(string? authorization)
    {
        var context = new DefaultHttpContext();
        var route = new RouteModel(new RouteConfig { RouteId = "r", ClusterId = "echo" }, TestModels.Cluster(), HttpTransformer.Empty);
        context.SetEndpoint(new Endpoint(null, new EndpointMetadataCollection(route), "r"));
        if (authorization is not null) context.Request.Headers.Authorization = authorization;
        return context;
    }

    private static string Token() => JwksUpstream.Mint(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(Secret)), SecurityAlgorithms.HmacSha256);

    [Fact]
    public async Task InvokeAsync_CachedBearerToken_ReturnsNextsTaskWithoutAllocating()
    {
        var pending = new TaskCompletionSource().Task;
        var middleware = Middleware(_ => pending, "jwt: { issuer: https://issuer.test, audiences: [api], secretFile: hs.key }");
        var context = Request("Bearer " + Token());
        await Task.WhenAny(middleware.InvokeAsync(context), Task.Delay(5000)); // validates once and caches the token
        Assert.NotNull(context.User.FindFirst(MeshgateClaims.Consumer));
        _ = middleware.InvokeAsync(context);

        var before = GC.GetAllocatedBytesForCurrentThread();
        Task? task = null;
        for (var i = 0; i < 1000; i++) task = middleware.InvokeAsync(context);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Same(pending, task); // accepted without an async frame of ours
        Assert.Equal(0, allocated);
    }

    // Continuation lines are indented to sit under the provider's name in Middleware's YAML.
    private static readonly string KeyProvider = $"apiKeys: {{ header: x-api-key, consumers: {{ mobile: {{ keys: [{ApiKeyProvider.Hash("k1")}] }} }} }}\n"
        + "    identityHeaders: { consumer: x-consumer }\n"
        + "    forwardAuthorization: false";

    [Fact]
    public async Task InvokeAsync_AcceptedKey_SetsIdentityHeaderOverTheClientsAndRemovesAuthorization()
    {
        var middleware = Middleware(_ => Task.CompletedTask, KeyProvider);
        var context = Request("Basic dXNlcjpwYXNz");
        context.Request.Headers["x-api-key"] = "k1";
        context.Request.Headers["x-consumer"] = "forged";

        await middleware.InvokeAsync(context);

        Assert.Equal("mobile", context.Request.Headers["x-consumer"].ToString());
        Assert.False(context.Request.Headers.ContainsKey("Authorization"));
        Assert.Equal("mobile", context.User.FindFirst(MeshgateClaims.Consumer)!.Value);
    }

    [Fact]
    public async Task InvokeAsync_WrongKey_Answers401WithChallengeAndReason()
    {
        var reached = false;
        var middleware = Middleware(_ => { reached = true; return Task.CompletedTask; }, KeyProvider);
        var context = Request(null);
        context.Response.Body = new MemoryStream();
        context.Request.Headers["x-api-key"] = "k2";
        context.Request.Headers["x-consumer"] = "forged";

        await middleware.InvokeAsync(context);

        Assert.False(reached);
        Assert.Equal(StatusCodes.Status401Unauthorized, context.Response.StatusCode);
        Assert.Equal("ApiKey header=\"x-api-key\"", context.Response.Headers.WWWAuthenticate.ToString());
        Assert.Contains(AuthenticationMetrics.InvalidCredentials, Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray()), StringComparison.Ordinal);
        Assert.False(context.Request.Headers.ContainsKey("x-consumer"));
    }
}
