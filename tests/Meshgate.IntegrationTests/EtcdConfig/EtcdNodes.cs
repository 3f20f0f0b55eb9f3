using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Meshgate.Configuration.Sources.Etcd;
using Meshgate.Roles.Edge;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.EtcdConfig;

/// <summary>Gateway nodes started in-process from one etcd prefix exactly as `meshgate gateway --etcd` starts them.</summary>
internal sealed class EtcdNodes : IAsyncDisposable
{
    public const string Token = "s3cret-admin-token-0123456789";

    private EtcdNodes(List<GatewayHost> hosts)
    {
        Hosts = hosts;
        Clients = hosts.Select(h => new HttpClient { BaseAddress = h.ListenerUrls[0].Url }).ToList();
        Admins = hosts.Select(h =>
        {
            var admin = new HttpClient { BaseAddress = h.AdminUrl };
            admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            return admin;
        }).ToList();
    }

    public IReadOnlyList<GatewayHost> Hosts { get; }
    public IReadOnlyList<HttpClient> Clients { get; }
    public IReadOnlyList<HttpClient> Admins { get; }

    /// <summary>A config for the nodes: ports 0 (every node binds its own), the admin token, and <paramref name="body"/>.</summary>
    public static string Config(string body) => $"""
        listeners:
          - name: public
            address: 127.0.0.1:0
        admin:
          address: 127.0.0.1:0
          token: {Token}
        logging:
          level: warning
        {body}
        """;

    public static EtcdConfigStore Store(EtcdServer etcd, string prefix) => new([etcd.Endpoint], prefix, Directory.GetCurrentDirectory());

    public static async Task PushAsync(EtcdServer etcd, string prefix, string yaml)
    {
        using var store = Store(etcd, prefix);
        var current = await store.ReadAsync();
        var write = await store.WriteAsync(yaml, current.Revision);
        Assert.True(write.Written);
    }

    /// <param name="canaryInterval">How often each node reports to and reads canaries (the gateway's 1 s when null; canary tests go faster).</param>
    public static async Task<EtcdNodes> StartAsync(EtcdServer etcd, string prefix, int count, TimeSpan? canaryInterval = null)
    {
        var hosts = new List<GatewayHost>();
        for (var i = 0; i < count; i++)
        {
            var store = Store(etcd, prefix);
            var state = await store.ReadStateAsync();
            var snapshot = EtcdConfigSync.Load(state, store).Snapshot ?? throw new InvalidOperationException("the config in etcd is invalid");
            var sync = new EtcdConfigSync(store, state, retryInterval: TimeSpan.FromMilliseconds(200), canaryInterval: canaryInterval);
            var host = GatewayHost.Create(snapshot, sync.Load, source: sync);
            await host.StartAsync();
            hosts.Add(host);
        }
        return new EtcdNodes(hosts);
    }

    public async Task<string> UpstreamAsync(int node, string path)
    {
        using var response = await Clients[node].GetAsync(path);
        return response.Headers.TryGetValues("x-upstream", out var values) ? values.Single() : $"status {(int)response.StatusCode}";
    }

    public async Task<JsonElement> StatusAsync(int node) => JsonDocument.Parse(await Admins[node].GetStringAsync("/admin/config/status")).RootElement;

    public async Task<JsonElement> ReadyAsync(int node) => JsonDocument.Parse(await Admins[node].GetStringAsync("/admin/health/ready")).RootElement;

    public async Task<JsonElement> CanaryAsync(int node) => JsonDocument.Parse(await Admins[node].GetStringAsync("/admin/canary")).RootElement;

    public async Task<string> RevisionAsync(int node) => (await StatusAsync(node)).GetProperty("revision").GetString()!;

    public Task<HttpResponseMessage> PutAsync(int node, string path, string json, string revision)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("If-Match", $"\"{revision}\"");
        return Admins[node].SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in Clients.Concat(Admins)) client.Dispose();
        foreach (var host in Hosts)
        {
            await host.StopAsync();
            await host.DisposeAsync();
        }
    }
}
