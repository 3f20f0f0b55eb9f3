using Yarp.ReverseProxy.Transforms;

namespace Meshgate.Proxy.Resilience.Retries;

/// <summary>
/// Runs when an attempt's response headers arrive: ends the per-try deadline, and when the status will be
/// retried, tells YARP to drop the body so nothing of the failed answer reaches the client.
/// Only routes whose policy retries or has a per-try timeout get it.
/// </summary>
internal sealed class RetryResponseTransform : ResponseTransform
{
    public static readonly RetryResponseTransform Instance = new();

    public override ValueTask ApplyAsync(ResponseTransformContext context)
    {
        if (context.ProxyResponse is { } response
            && context.HttpContext.Features.Get<RetryAttempt>() is { } attempt
            && attempt.OnResponseHeaders((int)response.StatusCode))
        {
            context.SuppressResponseBody = true;
        }
        return ValueTask.CompletedTask;
    }
}
