using System.Net;
using Meshgate.Configuration.Model;
using Meshgate.TestKit;

namespace Meshgate.Configuration.Tests.Commands;

/// <summary>`meshgate config push/pull` and `meshgate gateway --etcd` run in-process through <see cref="Cli"/> against a real etcd.</summary>
public sealed class ConfigCommandTests : IAsyncLifetime
{
    private EtcdServer _etcd = null!;
    private readonly string _prefix = $"/test-{Guid.NewGuid():N}/config/";
    private string _directory = null!;

    private const string Valid = """
        listeners:
          - name: public
            address: 127.0.0.1:0
        routes:
          - id: orders
            match: { pathPrefix: /orders }
            cluster: orders
          - id: api
            match: { pathPrefix: /api }
            cluster: orders
        clusters:
          - id: orders
            endpoints: [http://127.0.0.1:5000]
        rateLimits:
          per-client: { algorithm: fixed-window, limit: 10, window: 1s, key: client-ip }
        """;

    public async Task InitializeAsync()
    {
        _etcd = await EtcdServer.StartAsync();
        _directory = TempDirectory.Create();
    }

    public async Task DisposeAsync() => await _etcd.DisposeAsync();

    [Fact]
    public async Task Push_InvalidFile_PrintsEveryErrorExits2_AndWritesNothing()
    {
        var file = Write("invalid.yaml", "listeners: [{ name: public, address: 127.0.0.1:0 }]\nroutes:\n  - id: a\n    match: { path: /a }\n    cluster: ordrs\n");

        var (code, output, error) = await RunAsync("config", "push", "-c", file, "--etcd", _etcd.StoreUrl, "--prefix", _prefix);

        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal([$"{file}:5 routes[0].cluster: unknown cluster 'ordrs' (no clusters are defined)", "1 error: the config was not applied"], Lines(error));
        var (pullCode, _, pullError) = await RunAsync("config", "pull", "--etcd", _etcd.StoreUrl, "--prefix", _prefix);
        Assert.Equal(1, pullCode);
        Assert.Contains("holds no config", pullError);
    }

    [Fact]
    public async Task Push_ThenPull_GivesTheSameConfigBack_AndASecondPushChangesNothing()
    {
        var file = Write("meshgate.yaml", Valid);

        var (code, output, error) = await RunAsync("config", "push", "-c", file, "--etcd", _etcd.StoreUrl, "--prefix", _prefix);
        Assert.True(code == 0, error);
        Assert.StartsWith($"pushed {file} to {_etcd.StoreUrl}{_prefix}: revision ", output);

        var pulled = Path.Combine(_directory, "pulled.yaml");
        (code, output, error) = await RunAsync("config", "pull", "--etcd", _etcd.StoreUrl, "--prefix", _prefix, "-o", pulled);
        Assert.True(code == 0, error);
        Assert.Equal("", output);
        var original = ConfigLoader.LoadFile(file).Snapshot!.Definition;
        var back = ConfigLoader.LoadFile(pulled);
        Assert.True(back.Ok, string.Join("\n", back.Errors));
        // The same objects; list order is not kept (routes and clusters come back by id).
        Assert.Equal(Json(original with { Routes = [.. original.Routes.OrderBy(r => r.Id)] }), Json(back.Snapshot!.Definition));

        (code, output, _) = await RunAsync("config", "push", "-c", pulled, "--etcd", _etcd.StoreUrl, "--prefix", _prefix);
        Assert.Equal(0, code);
        Assert.Contains("already holds this config", output);

        // One key per object.
        using var etcd = new dotnet_etcd.EtcdClient("http://" + _etcd.Endpoint);
        var keys = (await etcd.GetRangeAsync(_prefix)).Kvs.Select(kv => kv.Key.ToStringUtf8()[_prefix.Length..]).ToList();
        Assert.Equal(["clusters/orders", "policies/rateLimits/per-client", "routes/api", "routes/orders", "settings"], keys);
    }

    [Fact]
    public async Task Push_EtcdUnreachable_SaysSoAndExits1()
    {
        var file = Write("meshgate.yaml", Valid);
        var port = DebianServerBinary.FreePort();

        var (code, _, error) = await RunAsync("config", "push", "-c", file, "--etcd", $"etcd://127.0.0.1:{port}");

        Assert.Equal(1, code);
        Assert.StartsWith($"cannot push: etcd at etcd://127.0.0.1:{port} is unavailable: Unavailable", error);
    }

    [Theory]
    [InlineData("--etcd", "http://127.0.0.1:2379", "--etcd: expected etcd://host:port[,host:port...]")]
    [InlineData("--etcd-prefix", "config", "--etcd-prefix: expected a key prefix that starts and ends with '/'")]
    public async Task Gateway_BadEtcdOption_NamesItAndExits1(string option, string value, string message)
    {
        string[] args = option == "--etcd" ? ["gateway", "--etcd", value] : ["gateway", "--etcd", _etcd.StoreUrl, option, value];
        var (code, _, error) = await RunAsync(args);
        Assert.Equal(1, code);
        Assert.StartsWith(message, error);
    }

    [Fact]
    public async Task Gateway_EtcdAndConfig_AreExclusive()
    {
        var (code, _, error) = await RunAsync("gateway", "--etcd", _etcd.StoreUrl, "-c", "meshgate.yaml");
        Assert.Equal(1, code);
        Assert.StartsWith("--config and --etcd are exclusive", error);
    }

    [Fact]
    public async Task Gateway_InvalidStateInEtcd_PrintsTheErrorsAndExits2()
    {
        using var etcd = new dotnet_etcd.EtcdClient("http://" + _etcd.Endpoint);
        await etcd.PutAsync(_prefix + "settings", "listeners: [{ name: public, address: 127.0.0.1:0 }]\n");
        await etcd.PutAsync(_prefix + "routes/a", "id: b\nmatch: { path: /a }\ncluster: a\n");

        var (code, _, error) = await RunAsync("gateway", "--etcd", _etcd.StoreUrl, "--etcd-prefix", _prefix);

        Assert.Equal(2, code);
        Assert.Equal([$"{_etcd.StoreUrl}{_prefix} routes/a: holds id 'b', which is not the key's id 'a'", "1 error: the config was not applied"], Lines(error));
    }

    [Fact]
    public async Task Gateway_FromEtcd_ServesAndSaysItIsSynced()
    {
        var admin = DebianServerBinary.FreePort();
        var file = Write("meshgate.yaml", Valid.Replace("listeners:", $"admin: {{ address: 127.0.0.1:{admin} }}\nlisteners:"));
        Assert.Equal(0, (await RunAsync("config", "push", "-c", file, "--etcd", _etcd.StoreUrl, "--prefix", _prefix)).Code);

        using var stop = new CancellationTokenSource();
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var run = Cli.RunAsync(["gateway", "--etcd", _etcd.StoreUrl, "--etcd-prefix", _prefix], output, errors, stop.Token);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin}") };
        string ready = "";
        await Eventually.HoldsAsync(async () =>
        {
            if (run.IsCompleted) throw new InvalidOperationException($"the gateway exited {await run}: {errors}");
            try
            {
                using var response = await http.GetAsync("/admin/health/ready");
                ready = await response.Content.ReadAsStringAsync();
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(15), "the gateway on etcd becomes ready");
        await stop.CancelAsync();
        Assert.Equal(0, await run);
        Assert.Contains($"\"source\":\"{_etcd.StoreUrl}{_prefix}\",\"synced\":true,\"reason\":null", ready);
    }

    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private static string Json(MeshgateDefinition definition) => DefinitionJson.ToStoredJson(definition)!.ToJsonString();

    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Cli.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
