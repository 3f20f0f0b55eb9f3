using Meshgate.Proxy.Errors;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.RateLimiting.Local;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>
/// Pipeline slot 7: counts the request against the route's policy (<see cref="RateLimitGate"/>), after authentication so
/// the key can be the consumer. A refused request gets 429 problem+json with Retry-After and the RateLimit headers
/// (503 while a shared store is not answering under onStoreFailure: deny); an allowed one gets the headers when the policy
/// asks for them. Routes without a policy pass straight on: no allocation, no async frame.
/// </summary>
internal sealed class RateLimitingMiddleware(RequestDelegate next, RateLimitGate gate)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<RouteRateLimit>() is not { } limit) return next(context);
        var pending = gate.DecideAsync(limit, RateLimitKeys.For(new HttpContextKeySource(context), limit.Policy.Key, limit));
        // Nearly every decision is made at once (local, or a leased permit): no async frame of ours.
        if (!pending.IsCompletedSuccessfully) return DecidedAsync(context, pending);
        var verdict = pending.Result;
        if (!verdict.Allowed) return RefuseAsync(context, verdict);
        Allow(context, verdict);
        return verdict.Held is { } held ? HoldAsync(context, held) : next(context);
    }

    private async Task DecidedAsync(HttpContext context, ValueTask<RateLimitVerdict> pending)
    {
        var verdict = await pending;
        if (!verdict.Allowed)
        {
            await RefuseAsync(context, verdict);
            return;
        }
        Allow(context, verdict);
        await next(context);
    }

    private void Allow(HttpContext context, RateLimitVerdict verdict)
    {
        context.Features.Get<RequestRecord>()?.RateLimit = verdict.Outcome;
        if (verdict.Limit.Policy.Headers && verdict.Decision is not null) AddHeadersWhenStarting(context, verdict);
    }

    private async Task HoldAsync(HttpContext context, LocalRateLimiter.Partition held)
    {
        try
        {
            await next(context);
        }
        finally
        {
            LocalRateLimiter.Release(held);
        }
    }

    private Task RefuseAsync(HttpContext context, RateLimitVerdict verdict)
    {
        context.Features.Get<RequestRecord>()?.RateLimit = verdict.Outcome;
        // The problem writer clears the response's headers first; these go on when it starts the body.
        AddHeadersWhenStarting(context, verdict);
        var (status, title, detail, code) = gate.Refusal(verdict);
        return ProblemResponses.WriteAsync(context, status, title, detail, code);
    }

    private void AddHeadersWhenStarting(HttpContext context, RateLimitVerdict verdict)
    {
        context.Response.OnStarting(static state =>
        {
            var (response, gate, verdict) = ((HttpResponse, RateLimitGate, RateLimitVerdict))state;
            var (policy, rateLimit, retryAfter) = gate.Headers(verdict);
            var headers = response.Headers;
            if (policy is not null) headers[RateLimitGate.PolicyHeader] = policy;
            if (rateLimit is not null) headers[RateLimitGate.StateHeader] = rateLimit;
            if (retryAfter is not null) headers.RetryAfter = retryAfter;
            return Task.CompletedTask;
        }, (context.Response, gate, verdict));
    }
}
