using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>
/// Prometheus metrics at <c>GET /metrics</c> on the admin listener. On by default: the framework's own
/// instruments plus a few histograms of ours cost well under the forwarding of the request itself.
/// </summary>
public sealed record MetricsDefinition
{
    [Description("Collect metrics and serve them at GET /metrics on the admin listener (Prometheus text format). Default true. false: nothing is measured and the request path pays nothing for metrics. Needs a restart.")]
    public bool Enabled { get; init; } = true;
}
