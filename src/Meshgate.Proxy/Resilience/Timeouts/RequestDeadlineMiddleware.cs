using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Timeouts;

namespace Meshgate.Proxy.Resilience.Timeouts;

/// <summary>
/// The route's whole-request deadline (<c>timeout</c>): from here on, <c>HttpContext.RequestAborted</c>
/// is cancelled when the client goes away or the deadline passes, which cancels the upstream request,
/// the waits between retries and any hedge. An expired deadline becomes a 504 (see <see cref="UpstreamTimeout"/>).
/// A route without a timeout passes straight through: one metadata lookup, no allocation, no async frame.
/// </summary>
internal sealed class RequestDeadlineMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        var timeout = RouteResilience.Of(context.GetEndpoint())?.Policy.Timeout;
        return timeout is { } after && !context.RequestAborted.IsCancellationRequested
            ? InvokeWithDeadlineAsync(context, after)
            : next(context);
    }

    private async Task InvokeWithDeadlineAsync(HttpContext context, TimeSpan after)
    {
        var clientAborted = context.RequestAborted;
        var deadline = Deadline.Start(clientAborted, after);
        context.Features.Set<IHttpRequestTimeoutFeature>(deadline);
        context.RequestAborted = deadline.Token;
        try
        {
            await next(context);
            if (deadline.Expired) UpstreamTimeout.Report(context);
        }
        catch (OperationCanceledException) when (deadline.Expired && !context.Response.HasStarted)
        {
            // Expired in a step that throws on cancellation (a wait between retries, a fault-injection delay).
            UpstreamTimeout.Report(context);
        }
        finally
        {
            context.RequestAborted = clientAborted;
            context.Features.Set<IHttpRequestTimeoutFeature>(null);
            deadline.Return();
        }
    }
}
