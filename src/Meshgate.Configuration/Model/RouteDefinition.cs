using System.ComponentModel;

namespace Meshgate.Configuration.Model;

public sealed record RouteDefinition
{
    [Description("Unique id of the route.")]
    [Required]
    public string? Id { get; init; }

    [Description("Priority: lower values are tried first. Routes with equal order are ranked by specificity (literal paths before templates before catch-alls). Default 0.")]
    public int Order { get; init; }

    [Description("What requests this route takes.")]
    [Required]
    public RouteMatchDefinition? Match { get; init; }

    [Description("Id of the cluster to forward to. Exactly one of cluster, split.")]
    public string? Cluster { get; init; }

    [Description("Weighted shares of several clusters instead of one cluster, e.g. [{ cluster: orders, weight: 90 }, { cluster: orders-v2, weight: 10 }]. Exactly one of cluster, split.")]
    public List<SplitTargetDefinition>? Split { get; init; }

    [Description("With split: make shares sticky by hashing a header or cookie value. Absent (or the value missing): a random share per request.")]
    public SplitByDefinition? SplitBy { get; init; }

    [Description("With split: a request header whose value forces one of the split's clusters, e.g. { header: x-canary, values: { always: orders-v2 } }.")]
    public SplitOverrideDefinition? SplitOverride { get; init; }

    [Description("Copy a percentage of requests to a shadow cluster (fire and forget), optionally comparing its answers with the primary's.")]
    public MirrorDefinition? Mirror { get; init; }

    [Description("Inject aborts or delays into a percentage of requests, for chaos testing.")]
    public FaultsDefinition? Faults { get; init; }

    [Description("Changes to the request and response.")]
    public RouteTransformsDefinition? Transforms { get; init; }

    [Description("Names of authentication providers; any one of them may authenticate the request. Without anonymous: true, a request none of them accepts gets 401.")]
    public List<string>? Auth { get; init; }

    [Description("With auth: let requests that carry no credentials through unauthenticated. Credentials that are present but invalid still get 401. Default false.")]
    public bool Anonymous { get; init; }

    [Description("Name of an authorization policy (access rules) that requests must pass, after authentication.")]
    public string? Authorization { get; init; }

    [Description("Name of a CORS policy (top-level cors) for this route; preflights are answered by the gateway. disable or absent: no CORS handling.")]
    public string? Cors { get; init; }

    [Description("Name of a resilience policy (top-level resilience): timeouts, retries, hedging. Absent: the policy named default, if there is one. disable: none.")]
    public string? Resilience { get; init; }

    [Description("Name of a response-cache policy (top-level caches) for GET and HEAD requests on this route. Absent or disable: no caching.")]
    public string? Cache { get; init; }

    [Description("Name of a rate-limit policy (top-level rateLimits) for this route. Absent: no limit.")]
    public string? RateLimit { get; init; }
}

public sealed record RouteMatchDefinition
{
    [Description("Path template: exact (/health), with parameters (/orders/{id}) or catch-all (/api/{**rest}). Case-insensitive.")]
    public string? Path { get; init; }

    [Description("Path prefix, on segment boundaries: /api matches /api and /api/x, not /apix. Instead of path.")]
    public string? PathPrefix { get; init; }

    [Description("HTTP methods; any when absent.")]
    public List<string>? Methods { get; init; }

    [Description("Host names, with optional port and leading wildcard: example.com, *.example.com, example.com:8443. Any when absent.")]
    public List<string>? Hosts { get; init; }

    [Description("Names of the listeners (listeners[].name) whose requests this route takes, e.g. [internal]. Any listener when absent.")]
    public List<string>? Listeners { get; init; }

    [Description("Header conditions; all must hold.")]
    public List<HeaderMatchDefinition>? Headers { get; init; }

    [Description("Query parameter conditions; all must hold.")]
    public List<QueryMatchDefinition>? Query { get; init; }
}

public sealed record HeaderMatchDefinition
{
    [Description("Header name.")]
    [Required]
    public string? Name { get; init; }

    [Description("The value equals one of these (case-insensitive unless caseSensitive).")]
    public List<string>? Exact { get; init; }

    [Description("The value starts with one of these.")]
    public List<string>? Prefix { get; init; }

    [Description(".NET regular expression the value must match (anchor it yourself with ^ and $).")]
    public string? Regex { get; init; }

    [Description("true: the header must be present (any value).")]
    public bool Present { get; init; }

    [Description("true: the header must be absent.")]
    public bool Absent { get; init; }

    [Description("Compare exact and prefix values case-sensitively. Default false.")]
    public bool CaseSensitive { get; init; }
}

public sealed record QueryMatchDefinition
{
    [Description("Query parameter name.")]
    [Required]
    public string? Name { get; init; }

    [Description("The value equals one of these.")]
    public List<string>? Exact { get; init; }

    [Description("The value starts with one of these.")]
    public List<string>? Prefix { get; init; }

    [Description("The value contains one of these.")]
    public List<string>? Contains { get; init; }

    [Description("true: the parameter must be present.")]
    public bool Present { get; init; }

    [Description("Compare values case-sensitively. Default false.")]
    public bool CaseSensitive { get; init; }
}

public sealed record RouteTransformsDefinition
{
    [Description("Remove this prefix from the path before forwarding (/api/orders -> /orders).")]
    public string? StripPrefix { get; init; }

    [Description("Replace a leading path prefix with another.")]
    public ReplacePrefixDefinition? ReplacePrefix { get; init; }

    [Description("Rewrite the whole path from a template using the route's path parameters: /v2/items/{id}.")]
    public string? PathTemplate { get; init; }

    [Description("Send the client's Host header upstream instead of the endpoint's host. Default false.")]
    public bool PreserveHost { get; init; }

    [Description("Request header changes.")]
    public HeaderTransformsDefinition? RequestHeaders { get; init; }

    [Description("Response header changes.")]
    public HeaderTransformsDefinition? ResponseHeaders { get; init; }
}

public sealed record ReplacePrefixDefinition
{
    [Description("Prefix to remove.")]
    [Required]
    public string? From { get; init; }

    [Description("Prefix to put in its place.")]
    [Required]
    public string? To { get; init; }
}

public sealed record HeaderTransformsDefinition
{
    [Description("Headers to set, replacing any value.")]
    public Dictionary<string, string>? Set { get; init; }

    [Description("Headers to append a value to.")]
    public Dictionary<string, string>? Append { get; init; }

    [Description("Header names to remove.")]
    public List<string>? Remove { get; init; }
}
