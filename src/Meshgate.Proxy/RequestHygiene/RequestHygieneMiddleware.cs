using Meshgate.Proxy.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.RequestHygiene;

/// <summary>
/// Slot 2: refuses, with 400 and a closed connection, any request whose end the gateway and the
/// upstream could disagree on, or that carries a header the gateway cannot vouch for. Kestrel
/// refuses most malformed heads before this runs; this holds the rules it leaves open (the table
/// is in docs/security.md). A chunked body is read in full before forwarding, so a framing error
/// in it is refused here rather than after the upstream has the request (nginx's request buffering).
/// </summary>
internal sealed partial class RequestHygieneMiddleware(RequestDelegate next, ILogger<RequestHygieneMiddleware> logger)
{
    public const string ErrorCode = "bad-request-framing";

    public Task InvokeAsync(HttpContext context)
    {
        var violation = Check(context);
        if (violation != HygieneViolation.None) return RejectAsync(context, StatusCodes.Status400BadRequest, violation.ToString());
        if (MayUpgrade(context)) CloseUnlessUpgraded(context);
        return context.Request.Headers.TransferEncoding.Count == 0 ? next(context) : BufferChunkedBodyAsync(context);
    }

    /// <summary>
    /// The connection filter stops reading an HTTP/1.1 connection after a request that may switch protocols
    /// (Connection names the upgrade token, or CONNECT). Kestrel goes on to read requests after one that was
    /// not upgraded, so that connection is closed after its response instead. Kestrel's own flag is checked
    /// as well as the header, so this is never narrower than the filter's test.
    /// </summary>
    internal static bool MayUpgrade(HttpContext context)
    {
        var request = context.Request;
        if (!HttpProtocol.IsHttp11(request.Protocol) && !HttpProtocol.IsHttp10(request.Protocol)) return false;
        if (HttpMethods.IsConnect(request.Method) || context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true) return true;
        foreach (var value in request.Headers.Connection)
        {
            if (value is not null && value.Contains("upgrade", StringComparison.OrdinalIgnoreCase)) return true;
        }
        return false;
    }

    private static void CloseUnlessUpgraded(HttpContext context) => context.Response.OnStarting(static state =>
    {
        var response = (HttpResponse)state;
        if (response.StatusCode != StatusCodes.Status101SwitchingProtocols) response.Headers.Connection = "close";
        return Task.CompletedTask;
    }, context.Response);

    internal static HygieneViolation Check(HttpContext context)
    {
        var request = context.Request;
        var headers = request.Headers;
        // Content-Length and Transfer-Encoding are checked on the bytes, before Kestrel parses them (RequestFramingConnectionFilter);
        // HTTP/2 and HTTP/3 refuse Transfer-Encoding and frame bodies themselves.
        if (headers.Authorization.Count > 1 || headers.Host.Count > 1) return HygieneViolation.RepeatedHeader;
        if (context.Features.Get<IHttpRequestFeature>()?.RawTarget is { } target && RequestHygieneChecks.HasControlCharacterOrSpace(target))
        {
            return HygieneViolation.ControlCharacterInTarget;
        }
        // Kestrel's header collection has no public struct enumerator, so this loop boxes one per request (and Kestrel
        // formats a parsed Content-Length back to text as it yields it): the only allocations on the accepted path.
        foreach (var header in headers)
        {
            if (!RequestHygieneChecks.IsToken(header.Key)) return HygieneViolation.InvalidHeaderName;
            if (RequestHygieneChecks.HasUnderscore(header.Key)) return HygieneViolation.UnderscoreInHeaderName;
            if (RequestHygieneChecks.HasControlCharacter(header.Value)) return HygieneViolation.ControlCharacterInHeaderValue;
        }
        return HygieneViolation.None;
    }

    private async Task BufferChunkedBodyAsync(HttpContext context)
    {
        context.Request.EnableBuffering();
        try
        {
            var body = context.Request.Body;
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                while (await body.ReadAsync(buffer, context.RequestAborted) > 0)
                {
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
            body.Position = 0;
        }
        catch (BadHttpRequestException e)
        {
            // A malformed chunk, or a body over the listener's limit (413, kept).
            await RejectAsync(context, e.StatusCode, e.Message);
            return;
        }
        catch (Exception e) when (e is not OperationCanceledException && !context.RequestAborted.IsCancellationRequested)
        {
            // Kestrel reports some chunk-size errors (a size past 64 bits) as other exceptions; they are still the client's framing.
            await RejectAsync(context, StatusCodes.Status400BadRequest, e.GetType().Name);
            return;
        }
        await next(context);
    }

    private Task RejectAsync(HttpContext context, int status, string reason)
    {
        LogRejected(logger, reason, context.Connection.RemoteIpAddress?.ToString());
        if (!HttpProtocol.IsHttp2(context.Request.Protocol) && !HttpProtocol.IsHttp3(context.Request.Protocol))
        {
            // ProblemResponses clears the headers first; set Connection: close as the response starts, and Kestrel closes after it.
            context.Response.OnStarting(static state =>
            {
                ((HttpResponse)state).Headers.Connection = "close";
                return Task.CompletedTask;
            }, context.Response);
        }
        return ProblemResponses.WriteAsync(context, status, "Bad request", $"The request's framing or headers are not acceptable to a front proxy ({reason}).", ErrorCode);
    }
}
