using System.Text.Json;
using System.Text.Json.Nodes;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Parsing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Meshgate.Admin.Api.ConfigWrites;

/// <summary>
/// GET, PUT and DELETE of single config objects: /admin/routes/{id}, /admin/clusters/{id} and
/// /admin/policies/{section}/{name}. Every answer carries the config revision in ETag; a write must send it back in
/// If-Match, and needs a configured admin token.
/// </summary>
internal static class ConfigWriteEndpoints
{
    public static void MapConfigWrites(this RouteGroupBuilder admin, AdminApi.GatewayServices gateway, ConfigObjectWriter writer, ConfigWriteAudit audit)
    {
        admin.MapGet("/routes/{id}", (HttpContext context, string id) => Get(context, gateway, ConfigObjectKind.Routes, id));
        admin.MapGet("/clusters/{id}", (HttpContext context, string id) => Get(context, gateway, ConfigObjectKind.Clusters, id));
        admin.MapGet("/policies/{section}", (HttpContext context, string section) =>
        {
            if (!ConfigObjectKind.Policies.TryGetValue(section, out var kind)) return UnknownSection(section);
            var snapshot = gateway.Snapshots.Current;
            context.Response.Headers.ETag = ETagOf(snapshot.Version);
            return Results.Text(DefinitionJson.ToJson(kind.All(snapshot.Definition))!.ToJsonString(), "application/json");
        });
        admin.MapGet("/policies/{section}/{name}", (HttpContext context, string section, string name) =>
            ConfigObjectKind.Policies.TryGetValue(section, out var kind) ? Get(context, gateway, kind, name) : UnknownSection(section));

        admin.MapPut("/routes/{id}", (HttpContext context, string id) => PutAsync(context, gateway, writer, audit, ConfigObjectKind.Routes, id));
        admin.MapPut("/clusters/{id}", (HttpContext context, string id) => PutAsync(context, gateway, writer, audit, ConfigObjectKind.Clusters, id));
        admin.MapPut("/policies/{section}/{name}", (HttpContext context, string section, string name) =>
            ConfigObjectKind.Policies.TryGetValue(section, out var kind) ? PutAsync(context, gateway, writer, audit, kind, name) : Task.FromResult(UnknownSection(section)));

        admin.MapDelete("/routes/{id}", (HttpContext context, string id) => DeleteAsync(context, gateway, writer, audit, ConfigObjectKind.Routes, id));
        admin.MapDelete("/clusters/{id}", (HttpContext context, string id) => DeleteAsync(context, gateway, writer, audit, ConfigObjectKind.Clusters, id));
        admin.MapDelete("/policies/{section}/{name}", (HttpContext context, string section, string name) =>
            ConfigObjectKind.Policies.TryGetValue(section, out var kind) ? DeleteAsync(context, gateway, writer, audit, kind, name) : Task.FromResult(UnknownSection(section)));
    }

    /// <summary>A strong entity tag of the revision: "abc123def456".</summary>
    public static string ETagOf(string revision) => $"\"{revision}\"";

    /// <summary>Whether a request is one of the writes (for the audit line of a write refused before it gets here).</summary>
    public static bool IsWrite(HttpRequest request) =>
        (HttpMethods.IsPut(request.Method) || HttpMethods.IsDelete(request.Method))
        && (request.Path.StartsWithSegments("/admin/routes") || request.Path.StartsWithSegments("/admin/clusters") || request.Path.StartsWithSegments("/admin/policies"));

    /// <summary>The object a write names, as the audit line shows it: routes/orders, policies/cors/public.</summary>
    public static string TargetOf(HttpRequest request) => request.Path.Value is { } path && path.StartsWith("/admin/", StringComparison.Ordinal) ? path["/admin/".Length..] : request.Path.Value ?? "";

    private static IResult Get(HttpContext context, AdminApi.GatewayServices gateway, ConfigObjectKind kind, string name)
    {
        var snapshot = gateway.Snapshots.Current;
        context.Response.Headers.ETag = ETagOf(snapshot.Version);
        return kind.Find(snapshot.Definition, name) is { } value
            ? Results.Text(DefinitionJson.ToJson(value)!.ToJsonString(), "application/json")
            : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: $"No such {kind.What}", detail: $"There is no {kind.What} '{name}'.",
                extensions: new Dictionary<string, object?> { ["revision"] = snapshot.Version });
    }

    private static IResult UnknownSection(string section) => Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such policy section",
        detail: $"'{section}' is not a policy section; the sections are {string.Join(", ", ConfigObjectKind.Policies.Keys)}.");

    private static async Task<IResult> PutAsync(HttpContext context, AdminApi.GatewayServices gateway, ConfigObjectWriter writer, ConfigWriteAudit audit, ConfigObjectKind kind, string name)
    {
        if (Precheck(context, gateway, audit) is { } refused) return refused;
        var expected = IfMatch(context.Request)!;
        var target = TargetOf(context.Request);

        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (JsonException e)
        {
            audit.Write(context, target, "invalid", expected, null);
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Body is not JSON",
                detail: $"The body must be the {kind.What} as JSON, with the keys of the YAML (as GET returns it): {e.Message}");
        }
        var (value, errors) = kind.Read(YamlNodes.FromJson(body), name);
        if (value is null)
        {
            audit.Write(context, target, "invalid", expected, null);
            return Results.ValidationProblem(errors.GroupBy(e => e.Path).ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray()),
                title: $"Invalid {kind.What}", detail: $"The body is not a valid {kind.What}; nothing was changed. Paths are relative to the {kind.What}.",
                extensions: new Dictionary<string, object?> { ["revision"] = gateway.Snapshots.Current.Version });
        }
        var result = await writer.PutAsync(kind, name, value, expected, context.RequestAborted);
        return Respond(context, audit, target, result);
    }

    private static async Task<IResult> DeleteAsync(HttpContext context, AdminApi.GatewayServices gateway, ConfigObjectWriter writer, ConfigWriteAudit audit, ConfigObjectKind kind, string name)
    {
        if (Precheck(context, gateway, audit) is { } refused) return refused;
        var result = await writer.DeleteAsync(kind, name, IfMatch(context.Request)!, context.RequestAborted);
        return Respond(context, audit, TargetOf(context.Request), result);
    }

    /// <summary>The refusals that need no look at the body: no admin token configured (403), no If-Match (428).</summary>
    private static IResult? Precheck(HttpContext context, AdminApi.GatewayServices gateway, ConfigWriteAudit audit)
    {
        var snapshot = gateway.Snapshots.Current;
        var target = TargetOf(context.Request);
        if (snapshot.Admin.Token is null)
        {
            audit.Write(context, target, "writes-need-token", snapshot.Version, null);
            return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Config writes need an admin token",
                detail: "The admin API changes the config only when an admin token is configured: set admin.token, admin.tokenEnv or admin.tokenFile (at least 16 characters), reload, and send 'Authorization: Bearer <token>'.");
        }
        if (IfMatch(context.Request) is null)
        {
            audit.Write(context, target, "precondition-required", snapshot.Version, null);
            context.Response.Headers.ETag = ETagOf(snapshot.Version);
            return Results.Problem(statusCode: StatusCodes.Status428PreconditionRequired, title: "If-Match required",
                detail: $"A write must say which config revision it was made from, so it cannot overwrite a change it has not seen: send If-Match with the ETag of your GET (the running config is at revision {snapshot.Version}: If-Match: \"{snapshot.Version}\").",
                extensions: new Dictionary<string, object?> { ["revision"] = snapshot.Version });
        }
        return null;
    }

    /// <summary>The revision in If-Match ("abc" or abc); null when absent, "*", weak or a list (a write names exactly one revision).</summary>
    private static string? IfMatch(HttpRequest request)
    {
        var value = request.Headers.IfMatch.ToString().Trim();
        if (value.Length == 0 || value == "*" || value.Contains(',', StringComparison.Ordinal) || value.StartsWith("W/", StringComparison.Ordinal)) return null;
        return value.Trim('"');
    }

    /// <summary>
    /// How long a client should wait before retrying a write the store could not take. A node retries etcd every half
    /// second and resyncs as soon as it answers; a few seconds lets a restarted member or a new leader settle.
    /// </summary>
    public static readonly TimeSpan StoreRetryAfter = TimeSpan.FromSeconds(5);

    /// <summary>503: the store is down for now (not the write's fault, nor a defect); the problem names it and why.</summary>
    private static IResult StoreUnavailable(HttpContext context, WriteResult result, Dictionary<string, object?> extensions)
    {
        context.Response.Headers.RetryAfter = ((int)StoreRetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        extensions["store"] = result.Unavailable!.Store;
        extensions["reason"] = result.Unavailable.Reason;
        return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Config store unavailable", detail: result.Detail, extensions: extensions);
    }

    private static IResult Respond(HttpContext context, ConfigWriteAudit audit, string target, WriteResult result)
    {
        audit.Write(context, target, result.Outcome, result.OldRevision, result.Outcome == ConfigWriteAudit.Applied ? result.Revision : null);
        context.Response.Headers.ETag = ETagOf(result.Revision);
        var revision = new Dictionary<string, object?> { ["revision"] = result.Revision };
        return result.Outcome switch
        {
            ConfigWriteAudit.Applied => AdminJsonContext.Json(new ConfigWriteView(result.Revision, result.OldRevision), result.Created ? StatusCodes.Status201Created : StatusCodes.Status200OK),
            "conflict" => Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Revision conflict", detail: result.Detail, extensions: revision),
            "not-found" => Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: result.Detail, extensions: revision),
            "invalid" => Results.ValidationProblem(result.Errors!, title: "Invalid config", detail: result.Detail, extensions: revision),
            "store-unavailable" => StoreUnavailable(context, result, revision),
            _ => Results.Problem(statusCode: StatusCodes.Status500InternalServerError, title: "Config store failed", detail: result.Detail, extensions: revision),
        };
    }
}
