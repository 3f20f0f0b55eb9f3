using Meshgate.Mesh.ControlPlane;
using Meshgate.TestKit;

namespace Meshgate.Mesh.Tests.ControlPlane;

public sealed class ServiceRegistryTests
{
    [Fact]
    public void An_instance_expires_after_the_ttl_without_heartbeats_and_a_heartbeat_renews_it()
    {
        var clock = new ShiftedClock();
        var start = DateTimeOffset.UtcNow;
        clock.Set(start);
        var registry = new ServiceRegistry(TimeSpan.FromSeconds(30), clock);
        var changes = 0;
        registry.Changed += () => changes++;
        registry.Register("orders", "a", "10.0.0.1", 80, new Dictionary<string, string>());
        registry.Register("orders", "b", "10.0.0.2", 80, new Dictionary<string, string>());

        clock.Set(start.AddSeconds(20));
        Assert.NotNull(registry.Heartbeat("a"));
        Assert.Equal(0, registry.ExpireDue());

        clock.Set(start.AddSeconds(31));
        Assert.Null(registry.Heartbeat("b")); // too late: b is gone
        Assert.Equal("a", Assert.Single(registry.Instances).InstanceId);

        clock.Set(start.AddSeconds(51));
        Assert.Equal(1, registry.ExpireDue());
        Assert.Empty(registry.Instances);
        Assert.Equal(4, changes); // two registrations, two expiries; the heartbeat is not a change
    }
}
