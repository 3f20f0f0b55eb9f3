using Meshgate.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.Proxy.Routing;

/// <summary>Endpoint metadata: the listeners a route takes requests from (match.listeners).</summary>
public sealed record ListenerMatchMetadata(IReadOnlySet<string> Names);

/// <summary>Which of the config's listeners a request arrived on; the host that binds the listeners provides it.</summary>
public interface IRequestListeners
{
    ListenerPolicy? ListenerOf(HttpContext context);
}

/// <summary>
/// Drops candidate routes that are for other listeners, inside ASP.NET Core's endpoint selection, so a route
/// meant for one listener (a sidecar's inbound side, an internal port) is never reachable from another.
/// Routes without match.listeners pay nothing: the policy applies only where the metadata is.
/// </summary>
internal sealed class ListenerMatcherPolicy(IServiceProvider services) : MatcherPolicy, IEndpointSelectorPolicy
{
    public override int Order => 1900;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints)
    {
        foreach (var endpoint in endpoints)
        {
            if (endpoint.Metadata.GetMetadata<ListenerMatchMetadata>() is not null) return true;
        }
        return false;
    }

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        string? name = null;
        var looked = false;
        for (var i = 0; i < candidates.Count; i++)
        {
            if (!candidates.IsValidCandidate(i) || candidates[i].Endpoint.Metadata.GetMetadata<ListenerMatchMetadata>() is not { } metadata) continue;
            if (!looked)
            {
                name = httpContext.Features.Get<RouteExplainer.ExplainFeature>() is { } explain
                    ? explain.Listener
                    : services.GetService<IRequestListeners>()?.ListenerOf(httpContext)?.Name;
                looked = true;
            }
            if (name is null || !metadata.Names.Contains(name)) candidates.SetValidity(i, false);
        }
        return Task.CompletedTask;
    }
}
