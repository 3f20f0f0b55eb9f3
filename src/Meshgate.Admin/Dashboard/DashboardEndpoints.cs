using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Meshgate.Admin.Dashboard;

/// <summary>
/// Serves the dashboard's page, script and stylesheet from resources embedded in this assembly. The page
/// holds no data: it fetches the admin API itself, sending the admin token as a bearer header.
/// </summary>
public static class DashboardEndpoints
{
    public const string Path = "/admin/dashboard";

    // Only this origin's own files run or load; no inline script or style, no framing.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly (string Route, string Resource, string ContentType)[] Assets =
    [
        (Path, "dashboard/index.html", "text/html; charset=utf-8"),
        (Path + "/dashboard.js", "dashboard/dashboard.js", "text/javascript; charset=utf-8"),
        (Path + "/dashboard.css", "dashboard/dashboard.css", "text/css; charset=utf-8"),
    ];

    public static void MapMeshgateDashboard(this IEndpointRouteBuilder endpoints)
    {
        foreach (var (route, resource, contentType) in Assets)
        {
            var body = Load(resource);
            endpoints.MapGet(route, (HttpContext context) =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                headers.CacheControl = "no-cache";
                return Results.Bytes(body, contentType);
            });
        }
    }

    private static byte[] Load(string resource)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the dashboard asset '{resource}' is not embedded");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
