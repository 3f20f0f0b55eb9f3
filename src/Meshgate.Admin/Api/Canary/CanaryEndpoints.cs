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
            return Results.Ok(new CanaryView(
                view.Node,
                plan is not null,
                view.Role,
                plan is null ? null : new CanaryPlanView(plan.Id, plan.SharePercent, plan.Nodes, plan.CandidateRevision, plan.BaseRevision, plan.StartedAt, plan.Deadline),
                view.Figures is { } figures
                    ? new CanaryNodeFiguresView(figures.Requests, figures.ServerErrors,
                        figures.Requests == 0 ? 0 : Math.Round((double)figures.ServerErrors / figures.Requests, 4), LatencyHistogram.Percentile(figures.Histogram, 0.99))
                    : null,
                // The command's last reading of the running canary; an older canary's is not shown as this one's.
                plan is not null && progress?.Id == plan.Id ? progress : null,
                decision,
                etcdError));
        });
    }
}
