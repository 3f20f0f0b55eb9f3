using Meshgate.Configuration.Sources.Etcd.Canary;
using Meshgate.Proxy.Observability.LiveStatistics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Meshgate.Admin.Api.Canary;

/// <summary>
/// GET /admin/canary: the config canary as this node sees it (its role, the plan, its own figures) and, from etcd,
/// the figures of the whole canary so far and the last decision, so any node answers for the fleet.
/// </summary>
public static class CanaryEndpoints
{
    public static void MapCanary(this RouteGroupBuilder admin, CanaryNode? canary)
    {
        admin.MapGet("/canary", async (HttpContext context) =>
        {
            if (canary is null)
            {
                return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No canaries",
                    detail: "Config canaries need the config in etcd: start the gateway with --etcd and push with `meshgate config push --canary`.");
            }
            var view = canary.View();
            CanaryReading? progress = null, decision = null;
            string? etcdError = view.LastError;
            try
            {
                progress = await canary.Store.ReadReadingAsync(canary.Store.ProgressKey, context.RequestAborted);
                decision = await canary.Store.ReadReadingAsync(canary.Store.DecisionKey, context.RequestAborted);
            }
            catch (IOException e)
            {
                etcdError = e.Message;
            }
            var plan = view.Plan;
            return Results.Ok(new
            {
                node = view.Node,
                running = plan is not null,
                role = view.Role,
                plan = plan is null ? null : new
                {
                    id = plan.Id,
                    sharePercent = plan.SharePercent,
                    nodes = plan.Nodes,
                    candidateRevision = plan.CandidateRevision,
                    baseRevision = plan.BaseRevision,
                    startedAt = plan.StartedAt,
                    deadline = plan.Deadline,
                },
                thisNode = view.Figures is { } figures ? new
                {
                    requests = figures.Requests,
                    serverErrors = figures.ServerErrors,
                    errorRate = figures.Requests == 0 ? 0 : Math.Round((double)figures.ServerErrors / figures.Requests, 4),
                    p99Ms = LatencyHistogram.Percentile(figures.Histogram, 0.99),
                } : null,
                // The command's last reading of the running canary; an older canary's is not shown as this one's.
                progress = plan is not null && progress?.Id == plan.Id ? progress : null,
                lastDecision = decision,
                etcdError,
            });
        });
    }
}
