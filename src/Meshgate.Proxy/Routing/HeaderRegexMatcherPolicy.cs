using Meshgate.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;

namespace Meshgate.Proxy.Routing;

/// <summary>Endpoint metadata: the route's header regexes (YARP's header matching has no regex mode).</summary>
public sealed record HeaderRegexMetadata(IReadOnlyList<HeaderRegex> Regexes);

/// <summary>
/// Drops candidate routes whose header regexes do not match, inside ASP.NET Core's own endpoint
/// selection, so order and specificity work as for every other condition.
/// </summary>
internal sealed class HeaderRegexMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
{
    // After YARP's header and query matchers, which are cheaper and may already have ruled routes out.
    public override int Order => 2000;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints)
    {
        foreach (var endpoint in endpoints)
        {
            if (endpoint.Metadata.GetMetadata<HeaderRegexMetadata>() is not null) return true;
        }
        return false;
    }

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        for (var i = 0; i < candidates.Count; i++)
        {
            if (!candidates.IsValidCandidate(i)) continue;
            if (candidates[i].Endpoint.Metadata.GetMetadata<HeaderRegexMetadata>() is { } metadata && !Matches(metadata, httpContext.Request.Headers))
            {
                candidates.SetValidity(i, false);
            }
        }
        return Task.CompletedTask;
    }

    internal static bool Matches(HeaderRegexMetadata metadata, IHeaderDictionary headers)
    {
        foreach (var rule in metadata.Regexes)
        {
            var values = headers[rule.Name];
            var any = false;
            foreach (var value in values)
            {
                try
                {
                    if (value is not null && rule.Regex.IsMatch(value))
                    {
                        any = true;
                        break;
                    }
                }
                catch (System.Text.RegularExpressions.RegexMatchTimeoutException)
                {
                    // A pathological value against a backtracking pattern: treat as no match rather than stall the request.
                }
            }
            if (!any) return false;
        }
        return true;
    }
}
