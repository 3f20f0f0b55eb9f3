using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Meshgate.Admin.Api.ConfigWrites;

/// <summary>
/// One log line per admin write, applied or refused: who (the client's address; never the token), what, the revision
/// before and after, and the outcome. Refusals are warnings, so they show at the default level too.
/// </summary>
internal sealed partial class ConfigWriteAudit(ILogger logger)
{
    public const string Category = "Meshgate.Admin.ConfigWrites";

    /// <param name="target">The object as its URL names it: routes/orders, policies/cors/public.</param>
    /// <param name="outcome">applied, or why it was refused: unauthorized, writes-need-token, precondition-required, conflict, invalid, not-found, store-unavailable, store-error.</param>
    public void Write(HttpContext context, string target, string outcome, string? oldRevision, string? newRevision)
    {
        var client = context.Connection.RemoteIpAddress is { } address ? $"{address}:{context.Connection.RemotePort}" : "unknown";
        var method = context.Request.Method;
        if (outcome == Applied) LogApplied(logger, client, method, target, oldRevision ?? "-", newRevision ?? "-", outcome);
        else LogRefused(logger, client, method, target, oldRevision ?? "-", newRevision ?? "-", outcome);
    }

    public const string Applied = "applied";

    [LoggerMessage(EventId = Common.EventIds.AdminWrites + 1, Level = LogLevel.Information,
        Message = "Admin write by {Client}: {Method} {Target}, revision {OldRevision} to {NewRevision}, outcome {Outcome}")]
    private static partial void LogApplied(ILogger logger, string client, string method, string target, string oldRevision, string newRevision, string outcome);

    [LoggerMessage(EventId = Common.EventIds.AdminWrites + 2, Level = LogLevel.Warning,
        Message = "Admin write by {Client} refused: {Method} {Target}, revision {OldRevision} to {NewRevision}, outcome {Outcome}")]
    private static partial void LogRefused(ILogger logger, string client, string method, string target, string oldRevision, string newRevision, string outcome);
}
