using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Errors;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Pipeline;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.FaultInjection;

/// <summary>
/// Injects the route's delays and aborts. It sits after authorization and before the proxy pipeline: an
/// injected abort looks like upstream trouble to the client but is never retried and never reaches the upstream.
/// A delayed request is then forwarded normally; with both configured, a request can be delayed and then aborted.
/// </summary>
internal sealed class FaultInjectionMiddleware(RequestDelegate next, IRandomSource random, TimeProvider time, FaultInjectionMetrics metrics)
{
    /// <summary>Response header naming the injected fault(s): abort, delay or "delay, abort".</summary>
    public const string FaultHeader = "Meshgate-Fault";

    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<FaultPolicy>() is not { } policy) return next(context);
        if (policy.Header is { } header && !context.Request.Headers.ContainsKey(header)) return next(context);

        var delay = policy.Delay is not null && Sampled(policy.DelayPartsPerMillion);
        var abort = policy.AbortStatus is not null && Sampled(policy.AbortPartsPerMillion);
        return delay || abort ? InjectAsync(context, policy, delay, abort) : next(context);
    }

    private bool Sampled(int partsPerMillion) => partsPerMillion >= 1_000_000 || (partsPerMillion > 0 && random.Next(1_000_000) < partsPerMillion);

    private async Task InjectAsync(HttpContext context, FaultPolicy policy, bool delay, bool abort)
    {
        var fault = delay && abort ? "delay, abort" : delay ? "delay" : "abort";
        context.Features.Get<RequestRecord>()?.Fault = fault;
        context.Response.OnStarting(static state =>
        {
            var (response, value) = ((HttpResponse, string))state;
            response.Headers[FaultHeader] = value;
            return Task.CompletedTask;
        }, (context.Response, fault));

        if (delay)
        {
            metrics.Injected(policy.RouteId, "delay");
            try
            {
                await Task.Delay(policy.Delay!.Value, time, context.RequestAborted);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                return; // the client left; nobody is waiting for an answer
            }
        }
        if (!abort)
        {
            await next(context);
            return;
        }

        metrics.Injected(policy.RouteId, "abort");
        var status = policy.AbortStatus!.Value;
        if (status is StatusCodes.Status204NoContent or StatusCodes.Status205ResetContent or StatusCodes.Status304NotModified)
        {
            context.Response.StatusCode = status; // these statuses carry no body
            return;
        }
        await ProblemResponses.WriteAsync(context, status, "Injected fault", $"Route '{policy.RouteId}' injects this fault (faults.abort); the request was not forwarded.", "fault-injected");
    }
}
