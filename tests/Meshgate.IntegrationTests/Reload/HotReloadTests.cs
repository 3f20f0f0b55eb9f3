using System.Net;
using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Reload;

public sealed class HotReloadTests : IAsyncLifetime
{
    private TestUpstream _v1 = null!, _v2 = null!;

    public async Task InitializeAsync()
    {
        _v1 = await TestUpstream.NamedAsync("v1");
        _v2 = await TestUpstream.NamedAsync("v2");
    }

    public async Task DisposeAsync()
    {
        await _v1.DisposeAsync();
        await _v2.DisposeAsync();
    }

    private static string Config(string upstream) => $$"""
        routes:
          - id: main
            match: { pathPrefix: / }
            cluster: backend
        clusters:
          - id: backend
            endpoints: ["{{upstream}}"]
        """;

    private static async Task<JsonElement> StatusAsync(TestGateway gateway) =>
        JsonDocument.Parse(await gateway.Admin.GetStringAsync("/admin/config/status")).RootElement;

    [Fact]
    public async Task FileRewrite_UnderLoad_ValidAppliesInvalidRejectedNoRequestFails()
    {
        await using var gateway = await TestGateway.StartAsync(Config(_v1.Endpoint));
        await using var load = UpstreamLoad.Start(gateway.Client, "/work");

        await Task.Delay(300);
        await gateway.RewriteConfigAsync(Config(_v2.Endpoint));
        await Eventually.HoldsAsync(async () => (await StatusAsync(gateway)).GetProperty("generation").GetInt32() == 2, TimeSpan.FromSeconds(10), "the valid rewrite is applied");
        await Eventually.HoldsAsync(() => Task.FromResult(load.SeenFrom("v2") > 0), TimeSpan.FromSeconds(5), "traffic reaches the new upstream");

        await gateway.RewriteConfigAsync(Config(_v1.Endpoint).Replace("cluster: backend", "cluster: backnd", StringComparison.Ordinal));
        await Eventually.HoldsAsync(async () => (await StatusAsync(gateway)).GetProperty("lastAttemptSucceeded").GetBoolean() == false, TimeSpan.FromSeconds(10), "the invalid rewrite is reported");
        var countBefore = load.SeenFrom("v1");
        await Task.Delay(300);
        await load.StopAsync();

        Assert.Equal(0, load.Failures);
        Assert.True(load.SeenFrom("v2") > 0);
        Assert.Equal(countBefore, load.SeenFrom("v1")); // the invalid config (pointing back at v1) was not applied
        var status = await StatusAsync(gateway);
        Assert.Equal(2, status.GetProperty("generation").GetInt32());
        var error = status.GetProperty("lastErrors")[0].GetString()!;
        Assert.Contains("routes[0].cluster: unknown cluster 'backnd' (did you mean 'backend'?)", error);
        Assert.Matches(@"meshgate\.yaml:\d+ ", error);
    }

    [Fact]
    public async Task AdminReload_ValidChange_NewRouteServes()
    {
        await using var gateway = await TestGateway.StartAsync(Config(_v1.Endpoint));
        await File.WriteAllTextAsync(gateway.ConfigPath, TestGateway.WithDefaults($$"""
            routes:
              - id: main
                match: { pathPrefix: / }
                cluster: backend
              - id: extra
                match: { path: /extra }
                cluster: other
            clusters:
              - { id: backend, endpoints: ["{{_v1.Endpoint}}"] }
              - { id: other, endpoints: ["{{_v2.Endpoint}}"] }
            """));

        using var reload = await gateway.Admin.PostAsync("/admin/reload", null);
        Assert.True(reload.StatusCode == HttpStatusCode.OK, await reload.Content.ReadAsStringAsync());
        using var response = await gateway.Client.GetAsync("/extra");
        Assert.Equal("v2", response.Headers.GetValues("x-upstream").Single());
    }

    [Fact]
    public async Task AdminReload_InvalidChange_422WithErrorsAndOldConfigServes()
    {
        await using var gateway = await TestGateway.StartAsync(Config(_v1.Endpoint));
        await File.WriteAllTextAsync(gateway.ConfigPath, TestGateway.WithDefaults(Config("ftp://nowhere")));

        using var reload = await gateway.Admin.PostAsync("/admin/reload", null);
        Assert.Equal((HttpStatusCode)422, reload.StatusCode);
        Assert.Contains("clusters[0].endpoints[0]: 'ftp://nowhere' is not an absolute http:// or https:// URL", await reload.Content.ReadAsStringAsync());
        using var response = await gateway.Client.GetAsync("/still");
        Assert.Equal("v1", response.Headers.GetValues("x-upstream").Single());
    }

    [Fact]
    public async Task Reload_ListenerChange_ReportedAsNeedingRestart()
    {
        await using var gateway = await TestGateway.StartAsync(Config(_v1.Endpoint));
        var changed = "listeners:\n  - name: test\n    address: 127.0.0.1:0\n    limits: { maxRequestBodySize: 1KiB }\n" + Config(_v2.Endpoint);
        await File.WriteAllTextAsync(gateway.ConfigPath, TestGateway.WithDefaults(changed));
        using var reload = await gateway.Admin.PostAsync("/admin/reload", null);
        var body = await reload.Content.ReadAsStringAsync();
        Assert.Contains("\"restartRequired\":[\"listeners\"]", body);
        using var response = await gateway.Client.GetAsync("/x");
        Assert.Equal("v2", response.Headers.GetValues("x-upstream").Single()); // the rest of the change applied
    }

    [Fact]
    public async Task Reload_RequestInFlight_FinishesOnOldUpstream()
    {
        var release = new TaskCompletionSource();
        var arrived = new TaskCompletionSource();
        await using var slow = await TestUpstream.StartAsync(app => app.MapGet("/slow", async (HttpContext context) =>
        {
            arrived.TrySetResult();
            await release.Task;
            context.Response.Headers["x-upstream"] = "slow";
            return "done";
        }));
        await using var gateway = await TestGateway.StartAsync(Config(slow.Endpoint));
        var inFlight = gateway.Client.GetAsync("/slow");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await File.WriteAllTextAsync(gateway.ConfigPath, TestGateway.WithDefaults(Config(_v2.Endpoint)));
        using (var reload = await gateway.Admin.PostAsync("/admin/reload", null)) Assert.Equal(HttpStatusCode.OK, reload.StatusCode);
        using (var after = await gateway.Client.GetAsync("/slow")) Assert.Equal("v2", after.Headers.GetValues("x-upstream").Single());

        release.SetResult();
        using var response = await inFlight;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("slow", response.Headers.GetValues("x-upstream").Single());
        Assert.Equal("done", await response.Content.ReadAsStringAsync());
    }
}
