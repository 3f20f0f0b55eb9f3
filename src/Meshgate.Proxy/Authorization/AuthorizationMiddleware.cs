using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Authorization;

/// <summary>
/// Applies the route's access rules after authentication: a matching deny rule refuses; when the policy
/// has allow rules, a request none of them allows is refused. Refusals are 403 problem+json that do not
/// say which rule decided. In shadow mode nothing is refused; would-be refusals are logged.
/// </summary>
internal sealed partial class AuthorizationMiddleware(RequestDelegate next, ILogger<AuthorizationMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<AuthorizationPolicy>() is not { } policy || Allows(policy, context, out _))
        {
            return next(context);
        }
        if (policy.Shadow)
        {
            Allows(policy, context, out var reason);
            LogWouldDeny(logger, policy.Name, context.Request.Method, context.Request.Path.Value, reason);
            return next(context);
        }
        LogDenied(logger, policy.Name, context.Request.Method, context.Request.Path.Value);
        return ProblemResponses.WriteAsync(context, StatusCodes.Status403Forbidden, "Forbidden", "The route's access rules do not allow this request.", "forbidden");
    }

    /// <param name="reason">Which rule decided, for the log only: clients are never told.</param>
    internal static bool Allows(AuthorizationPolicy policy, HttpContext context, out string reason)
    {
        for (var i = 0; i < policy.Deny.Count; i++)
        {
            if (AccessRuleEvaluator.Matches(policy.Deny[i], context))
            {
                reason = $"deny[{i}] matches";
                return false;
            }
        }
        if (policy.Allow.Count > 0)
        {
            for (var i = 0; i < policy.Allow.Count; i++)
            {
                if (AccessRuleEvaluator.Matches(policy.Allow[i], context))
                {
                    reason = $"allow[{i}] matches";
                    return true;
                }
            }
            reason = "no allow rule matches";
            return false;
        }
        reason = "no deny rule matches";
        return true;
    }

    [LoggerMessage(EventId = Common.EventIds.Authorization + 1, Level = LogLevel.Debug, Message = "Authorization policy '{Policy}' refused {Method} {Path}")]
    private static partial void LogDenied(ILogger logger, string policy, string method, string? path);

    [LoggerMessage(EventId = Common.EventIds.Authorization + 2, Level = LogLevel.Information, Message = "Authorization policy '{Policy}' (shadow) would refuse {Method} {Path}: {Reason}")]
    private static partial void LogWouldDeny(ILogger logger, string policy, string method, string? path, string reason);
}
