using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.TestSupport;

/// <summary>Applies health changes to the destination like YARP's updater does, and records them.</summary>
internal sealed class RecordingHealthUpdater : IDestinationHealthUpdater
{
    public List<(string DestinationId, DestinationHealth Health)> ActiveCalls { get; } = [];

    public List<(string DestinationId, DestinationHealth Health, TimeSpan ReactivationPeriod)> PassiveCalls { get; } = [];

    public void SetActive(ClusterState cluster, IEnumerable<NewActiveDestinationHealth> newHealthStates)
    {
        foreach (var state in newHealthStates)
        {
            state.Destination.Health.Active = state.NewActiveHealth;
            ActiveCalls.Add((state.Destination.DestinationId, state.NewActiveHealth));
        }
    }

    public void SetPassive(ClusterState cluster, DestinationState destination, DestinationHealth newHealth, TimeSpan reactivationPeriod)
    {
        destination.Health.Passive = newHealth;
        PassiveCalls.Add((destination.DestinationId, newHealth, reactivationPeriod));
    }
}
