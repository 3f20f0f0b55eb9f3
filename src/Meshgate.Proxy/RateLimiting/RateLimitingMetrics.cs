using System.Diagnostics.Metrics;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>Every instrument rate limiting emits.</summary>
internal sealed class RateLimitingMetrics(IMeterFactory meters)
{
    private readonly Counter<long> _decisions = meters.Create(Common.MeshgateMeter.Name).CreateCounter<long>("meshgate.ratelimit.decisions", "{request}", "Rate-limit decisions, by route, policy and outcome (allowed, limited).");

    public void Decided(string route, string policy, string outcome) => _decisions.Add(1, new("route", route), new("policy", policy), new("outcome", outcome));
}
