using System.Net;
using Grpc.Core;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.V1;
using Meshgate.TestKit;

namespace Meshgate.Mesh.Tests.ControlPlane;

public sealed class ControlPlaneServerTests
{
    [Fact]
    public async Task A_registered_instance_is_in_the_snapshot_a_watcher_receives()
    {
        await using var cp = await TestControlPlane.StartAsync();
        var lease = await cp.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1", port: 9001, version: "v2"));
        Assert.Equal(30_000, lease.TtlMs);

        using var watcher = Watcher.Start(cp.Distribution, "sidecar-a");
        var snapshot = await watcher.NextMatchingAsync(s => Watcher.Has(s, "orders", "orders-1"));
        var instance = Assert.Single(Assert.Single(snapshot.Services).Instances);
        Assert.Equal(("10.0.0.1", 9001, "v2"), (instance.Address, instance.Port, instance.Labels["version"]));
        Assert.True(snapshot.Version > 1);
    }

    [Fact]
    public async Task A_heartbeat_keeps_the_instance_and_a_missed_lease_removes_it_with_a_new_version()
    {
        var clock = new ShiftedClock();
        var start = DateTimeOffset.UtcNow;
        clock.Set(start);
        await using var cp = await TestControlPlane.StartAsync(ttl: TimeSpan.FromSeconds(10), time: clock);
        await cp.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
        using var watcher = Watcher.Start(cp.Distribution, "sidecar-a");
        var registered = await watcher.NextMatchingAsync(s => Watcher.Has(s, "orders", "orders-1"));

        clock.Set(start.AddSeconds(8));
        var renewed = await cp.Registry.HeartbeatAsync(new HeartbeatRequest { InstanceId = "orders-1" });
        Assert.Equal(start.AddSeconds(18).ToUnixTimeMilliseconds(), renewed.ExpiresUnixMs, tolerance: 2000);
        clock.Set(start.AddSeconds(15)); // past the first lease, inside the renewed one
        await Task.Delay(300); // several sweeps
        Assert.Single(cp.Server.Registry.Instances);

        clock.Set(start.AddSeconds(40));
        var expired = await watcher.NextMatchingAsync(s => !Watcher.Has(s, "orders", "orders-1"));
        Assert.True(expired.Version > registered.Version);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await cp.Registry.HeartbeatAsync(new HeartbeatRequest { InstanceId = "orders-1" }));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Contains("register again", error.Status.Detail);
    }

    [Fact]
    public async Task Two_watchers_both_get_each_change()
    {
        await using var cp = await TestControlPlane.StartAsync();
        using var a = Watcher.Start(cp.Distribution, "sidecar-a");
        using var b = Watcher.Start(cp.Distribution, "gateway-1", "gateway");
        await a.NextMatchingAsync(_ => true);
        await b.NextMatchingAsync(_ => true);

        await cp.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
        await cp.Registry.RegisterAsync(TestControlPlane.Instance("users", "users-1"));
        var seenByA = await a.NextMatchingAsync(s => Watcher.Has(s, "users", "users-1"));
        var seenByB = await b.NextMatchingAsync(s => Watcher.Has(s, "users", "users-1"));
        Assert.Equal(2, seenByA.Services.Count);
        Assert.Equal(seenByA.Version, seenByB.Version);

        await cp.Registry.DeregisterAsync(new DeregisterRequest { InstanceId = "orders-1" });
        await a.NextMatchingAsync(s => !Watcher.Has(s, "orders", "orders-1"));
        await b.NextMatchingAsync(s => !Watcher.Has(s, "orders", "orders-1"));
    }

    [Fact]
    public async Task A_burst_of_registrations_becomes_few_versions()
    {
        await using var cp = await TestControlPlane.StartAsync();
        var before = cp.Server.Hub.Current.Version;
        await Task.WhenAll(Enumerable.Range(1, 50).Select(i => cp.Registry.RegisterAsync(TestControlPlane.Instance("orders", $"orders-{i}")).ResponseAsync));
        await Eventually.HoldsAsync(() => Task.FromResult(cp.Server.Hub.Current.Services.Sum(s => s.Instances.Count) == 50), TimeSpan.FromSeconds(10), "all 50 instances in the snapshot");
        Assert.True(cp.Server.Hub.Current.Version - before < 25, $"50 registrations made {cp.Server.Hub.Current.Version - before} versions");
    }

    [Fact]
    public async Task Acks_and_nacks_are_recorded_per_proxy_and_shown_in_admin_proxies()
    {
        await using var cp = await TestControlPlane.StartAsync();
        using var watcher = Watcher.Start(cp.Distribution, "sidecar-a");
        var first = await watcher.NextMatchingAsync(_ => true);
        await cp.Distribution.AckAsync(new AckRequest { ProxyId = "sidecar-a", Version = first.Version, Accepted = true });

        await cp.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
        var second = await watcher.NextMatchingAsync(s => s.Version > first.Version);
        await cp.Distribution.AckAsync(new AckRequest { ProxyId = "sidecar-a", Version = second.Version, Accepted = false, Error = "route orders: unknown cluster" });

        var body = await cp.AdminJsonAsync("/admin/proxies");
        var proxy = Assert.Single(body.GetProperty("proxies").EnumerateArray());
        Assert.Equal("sidecar-a", proxy.GetProperty("proxyId").GetString());
        Assert.Equal("sidecar", proxy.GetProperty("kind").GetString());
        Assert.True(proxy.GetProperty("connected").GetBoolean());
        Assert.Equal(second.Version, proxy.GetProperty("versionSent").GetInt64());
        Assert.Equal(first.Version, proxy.GetProperty("versionAcked").GetInt64()); // the NACK left it on the previous version
        Assert.Equal(second.Version, proxy.GetProperty("lastNackVersion").GetInt64());
        Assert.Equal("route orders: unknown cluster", proxy.GetProperty("lastNackReason").GetString());

        watcher.Dispose();
        await Eventually.HoldsAsync(async () =>
        {
            var p = (await cp.AdminJsonAsync("/admin/proxies")).GetProperty("proxies")[0];
            return !p.GetProperty("connected").GetBoolean();
        }, TimeSpan.FromSeconds(10), "the proxy shows as disconnected after its watch ends");
    }

    [Fact]
    public async Task Admin_services_lists_instances_with_labels_and_expiry_and_ready_is_200()
    {
        await using var cp = await TestControlPlane.StartAsync();
        await cp.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1", version: "v3"));
        var body = await cp.AdminJsonAsync("/admin/services");
        var service = Assert.Single(body.GetProperty("services").EnumerateArray());
        Assert.Equal("orders", service.GetProperty("name").GetString());
        var instance = Assert.Single(service.GetProperty("instances").EnumerateArray());
        Assert.Equal("v3", instance.GetProperty("labels").GetProperty("version").GetString());
        Assert.True(instance.GetProperty("expiresAt").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddSeconds(20));

        using var ready = await cp.Admin.GetAsync("/admin/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task A_restarted_control_plane_keeps_its_registrations_and_policies_from_the_state_file()
    {
        var state = Path.Combine(Path.GetTempPath(), $"meshgate-cp-{Guid.NewGuid():N}.json");
        try
        {
            var policies = MeshPolicyFile.Parse("services:\n  orders:\n    retries: 2\n").Policies!;
            long versionBefore;
            await using (var cp = await TestControlPlane.StartAsync(statePath: state, policies: policies))
            {
                await cp.Registry.RegisterAsync(TestControlPlane.Instance("orders", "orders-1", version: "v2"));
                await Eventually.HoldsAsync(() => Task.FromResult(File.Exists(state) && File.ReadAllText(state).Contains("orders-1")), TimeSpan.FromSeconds(10), "the state file has the registration");
                versionBefore = cp.Server.Hub.Current.Version;
            }
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(state)!, $".{Path.GetFileName(state)}.*.tmp"));

            await using var restarted = await TestControlPlane.StartAsync(statePath: state);
            using var watcher = Watcher.Start(restarted.Distribution, "sidecar-a");
            var snapshot = await watcher.NextMatchingAsync(_ => true);
            Assert.True(Watcher.Has(snapshot, "orders", "orders-1"));
            Assert.Equal("v2", snapshot.Services[0].Instances[0].Labels["version"]);
            Assert.Equal(2, Assert.Single(snapshot.Policies.Services).RetryAttempts);
            Assert.True(snapshot.Version > versionBefore, "versions go on after a restart");
            await restarted.Registry.HeartbeatAsync(new HeartbeatRequest { InstanceId = "orders-1" }); // its lease goes on
        }
        finally
        {
            File.Delete(state);
        }
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("{}")]
    [InlineData("{\"Version\": 3, \"Instances\": [], \"PoliciesJson\": \"{ \\\"services\\\": 7 }\"}")]
    public async Task A_corrupt_state_file_refuses_to_start_with_the_reason(string content)
    {
        var state = Path.Combine(Path.GetTempPath(), $"meshgate-cp-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(state, content);
        try
        {
            var error = await Assert.ThrowsAsync<InvalidDataException>(() => TestControlPlane.StartAsync(statePath: state));
            Assert.Contains(state, error.Message);
            Assert.Contains("not valid", error.Message);
        }
        finally
        {
            File.Delete(state);
        }
    }

    [Theory]
    [InlineData("", "orders-1", 8080, "service must not be empty")]
    [InlineData("orders", "", 8080, "instance_id must not be empty")]
    [InlineData("orders", "orders-1", 0, "port must be 1-65535, got 0")]
    [InlineData("orders", "orders-1", 70000, "port must be 1-65535, got 70000")]
    public async Task A_bad_registration_is_InvalidArgument_with_the_reason(string service, string instanceId, int port, string message)
    {
        await using var cp = await TestControlPlane.StartAsync();
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await cp.Registry.RegisterAsync(new RegisterRequest { Service = service, InstanceId = instanceId, Address = "10.0.0.1", Port = port }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(message, error.Status.Detail);
        Assert.Empty(cp.Server.Registry.Instances);
    }

    [Fact]
    public async Task A_watch_or_ack_without_a_proxy_id_is_InvalidArgument()
    {
        await using var cp = await TestControlPlane.StartAsync();
        using var watcher = Watcher.Start(cp.Distribution, "");
        var watchError = await Assert.ThrowsAsync<RpcException>(() => watcher.NextMatchingAsync(_ => true));
        Assert.Equal((StatusCode.InvalidArgument, "proxy_id must not be empty"), (watchError.StatusCode, watchError.Status.Detail));
        var ackError = await Assert.ThrowsAsync<RpcException>(async () => await cp.Distribution.AckAsync(new AckRequest { ProxyId = "p", Version = 0 }));
        Assert.Equal((StatusCode.InvalidArgument, "version must be > 0, got 0"), (ackError.StatusCode, ackError.Status.Detail));
    }
}
