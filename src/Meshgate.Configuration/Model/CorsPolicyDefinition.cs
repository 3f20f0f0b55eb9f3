using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>A named CORS policy; routes refer to it with <c>cors: name</c>.</summary>
public sealed record CorsPolicyDefinition
{
    [Description("Origins allowed to call: exact (https://app.example.com, with port when not the default), wildcard subdomain (https://*.example.com: any subdomain, not the domain itself), or \"*\" (any origin; not with credentials).")]
    [Required]
    public List<string>? Origins { get; init; }

    [Description("Methods a preflight may ask for; \"*\" or absent: any method.")]
    public List<string>? Methods { get; init; }

    [Description("Request headers a preflight may ask for, beyond the CORS-safelisted ones; \"*\": any. Absent: none.")]
    public List<string>? Headers { get; init; }

    [Description("Response headers the browser lets the page read, beyond the CORS-safelisted ones. Absent: none.")]
    public List<string>? ExposeHeaders { get; init; }

    [Description("Allow cookies and HTTP authentication (Access-Control-Allow-Credentials: true). Not with origin \"*\". Default false.")]
    public bool Credentials { get; init; }

    [Description("How long a browser may cache a preflight answer (Access-Control-Max-Age), e.g. 10m. Absent: the browser's default.")]
    public TimeSpan? MaxAge { get; init; }
}
