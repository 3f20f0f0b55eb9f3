using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Errors;

/// <summary>
/// Every response the gateway makes itself carries an RFC 9457 problem+json body, so a client can
/// tell a gateway error from an upstream one and see why.
/// </summary>
public static class ProblemResponses
{
    public const string ContentType = "application/problem+json";

    /// <summary>Header naming the component that made the response, e.g. "meshgate".</summary>
    public const string SourceHeader = "x-meshgate-error";

    public static async Task WriteAsync(HttpContext context, int status, string title, string detail, string errorCode)
    {
        if (context.Response.HasStarted) return;
        // Allow (405) and WWW-Authenticate (401) belong with the problem; anything else set so far does not.
        var allow = context.Response.Headers.Allow;
        var authenticate = context.Response.Headers.WWWAuthenticate;
        context.Response.Clear();
        if (status == StatusCodes.Status405MethodNotAllowed) context.Response.Headers.Allow = allow;
        if (status == StatusCodes.Status401Unauthorized) context.Response.Headers.WWWAuthenticate = authenticate;
        context.Response.StatusCode = status;
        context.Response.ContentType = ContentType;
        context.Response.Headers[SourceHeader] = errorCode;
        if (HttpMethods.IsHead(context.Request.Method)) return;
        var problem = new Problem($"https://meshgate.dev/errors/{errorCode}", title, status, detail, context.Request.Path.Value ?? "/", context.TraceIdentifier);
        await JsonSerializer.SerializeAsync(context.Response.Body, problem, ProblemTypeInfo, context.RequestAborted);
    }

    /// <summary>The problem+json body, as bytes, for a response made outside an HttpContext (the direct front end).</summary>
    internal static byte[] Body(int status, string title, string detail, string errorCode, string path, string requestId) =>
        JsonSerializer.SerializeToUtf8Bytes(new Problem($"https://meshgate.dev/errors/{errorCode}", title, status, detail, path, requestId), ProblemTypeInfo);

    // problem+json is read by programs and people, never embedded in HTML: quotes and apostrophes stay readable.
    private static readonly System.Text.Json.Serialization.Metadata.JsonTypeInfo<Problem> ProblemTypeInfo =
        (System.Text.Json.Serialization.Metadata.JsonTypeInfo<Problem>)new JsonSerializerOptions(ProblemJsonContext.Default.Options)
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            TypeInfoResolver = ProblemJsonContext.Default,
        }.GetTypeInfo(typeof(Problem));

    internal sealed record Problem(string Type, string Title, int Status, string Detail, string Instance, string RequestId);
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ProblemResponses.Problem))]
internal sealed partial class ProblemJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
