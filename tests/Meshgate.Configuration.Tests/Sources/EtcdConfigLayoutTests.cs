using Meshgate.Configuration.Parsing;
using Meshgate.Configuration.Sources.Etcd;

namespace Meshgate.Configuration.Tests.Sources;

/// <summary>How a config is split into etcd keys and assembled back (no etcd needed: the layout is pure).</summary>
public sealed class EtcdConfigLayoutTests
{
    private const string Config = """
        listeners: [{ name: public, address: 127.0.0.1:0 }]
        logging: { level: warning }
        routes:
          - id: z
            match: { pathPrefix: /z }
            cluster: c
          - id: a
            match: { pathPrefix: /a }
            cluster: c
        clusters:
          - id: c
            endpoints: [http://127.0.0.1:5000]
        cors:
          web: { origins: [https://app.example.com] }
        """;

    private static List<KeyValuePair<string, string>> Keys(string yaml) => EtcdConfigLayout.Split(ConfigReader.Read(yaml).Definition!).ToList();

    [Fact]
    public void Split_OneKeyPerObject_AndTheRestInSettings()
    {
        var keys = Keys(Config);
        Assert.Equal(["clusters/c", "policies/cors/web", "routes/a", "routes/z", "settings"], keys.Select(k => k.Key));
        var settings = keys.Single(k => k.Key == "settings").Value;
        Assert.Contains("listeners:", settings);
        Assert.DoesNotContain("routes", settings);
    }

    [Fact]
    public void Assemble_IsValidAndLoadsTheSameObjects_WithTheSameTextForTheSameKeys()
    {
        var assembled = EtcdConfigLayout.Assemble(Keys(Config), "etcd");
        Assert.Empty(assembled.Errors);
        var loaded = ConfigLoader.Load(assembled.Config.Yaml, "etcd", ".");
        Assert.True(loaded.Ok, string.Join("\n", loaded.Errors));
        Assert.Equal(["a", "z"], loaded.Snapshot!.Definition.Routes.Select(r => r.Id));
        Assert.Equal(assembled.Config.Revision, loaded.Snapshot.Version);
        // Keys in another order (as another etcd member may list them): the same text, so the same revision on every node.
        Assert.Equal(assembled.Config, EtcdConfigLayout.Assemble(Enumerable.Reverse(Keys(Config)).ToList(), "etcd").Config);
    }

    [Fact]
    public void Assemble_AValueWithoutItsId_TakesTheKeys()
    {
        var keys = Keys(Config).Select(k => k.Key == "routes/a" ? KeyValuePair.Create(k.Key, "match: { pathPrefix: /a }\ncluster: c\n") : k).ToList();
        var assembled = EtcdConfigLayout.Assemble(keys, "etcd");
        Assert.Empty(assembled.Errors);
        var route = ConfigLoader.Load(assembled.Config.Yaml, "etcd", ".").Snapshot!.Definition.Routes.Single(r => r.Id == "a");
        Assert.Equal(("a", "/a", "c"), (route.Id, route.Match!.PathPrefix, route.Cluster));
    }

    [Theory]
    [InlineData("routes/a", "id: b\ncluster: c\n", "routes/a", "holds id 'b', which is not the key's id 'a'")]
    [InlineData("routes/a", "[1, 2", "routes/a", "not valid YAML")]
    [InlineData("routes/a", "- 1\n", "routes/a", "expected a map (one object)")]
    [InlineData("routes/a/b", "cluster: c\n", "routes/a/b", "expected one id after the folder")]
    [InlineData("listeners/x", "address: 1\n", "listeners/x", "not a key of the config layout: expected settings, routes/<id>, clusters/<id> or policies/<section>/<name>")]
    [InlineData("policies/nope/x", "a: 1\n", "policies/nope/x", "not a key of the config layout")]
    [InlineData("settings", "routes: []\n", "settings", "'routes' does not belong in the settings key: each of its objects has a key of its own (routes/<name>)")]
    [InlineData("settings", "- 1\n", "settings", "expected a map of top-level settings")]
    public void Assemble_AKeyThatDoesNotFit_IsAnErrorNamingTheKey(string key, string value, string path, string message)
    {
        var keys = Keys(Config).Where(k => k.Key != key).Append(KeyValuePair.Create(key, value)).ToList();
        var assembled = EtcdConfigLayout.Assemble(keys, "etcd://x/p/");
        var error = Assert.Single(assembled.Errors);
        Assert.Equal(path, error.Path);
        Assert.StartsWith(message, error.Message);
        Assert.Equal("etcd://x/p/", error.File);
        // Each bad state still has a revision of its own, which differs from the good one.
        Assert.NotEqual(EtcdConfigLayout.Assemble(Keys(Config), "etcd").Config.Revision, assembled.Config.Revision);
    }

    [Fact]
    public void Assemble_NoKeys_IsEmpty()
    {
        Assert.True(EtcdConfigLayout.Assemble([], "etcd").Empty);
    }
}
