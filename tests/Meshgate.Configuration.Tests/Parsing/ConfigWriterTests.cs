using System.Text.Json.Nodes;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Parsing;
using Meshgate.Configuration.Tests.Docs;

namespace Meshgate.Configuration.Tests.Parsing;

/// <summary>The admin API stores what it writes with <see cref="ConfigWriter"/>: the text must read back into the same config.</summary>
public sealed class ConfigWriterTests
{
    /// <summary>Every example file and every ```yaml block of the docs: together they use nearly every key.</summary>
    public static TheoryData<string> Configs()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Repository.PathOf("examples"), "*.yaml").Order(StringComparer.Ordinal)) data.Add(File.ReadAllText(file));
        foreach (var doc in Directory.GetFiles(Repository.PathOf("docs"), "*.md").Order(StringComparer.Ordinal))
        {
            foreach (var (_, yaml) in DocsYamlTests.Blocks(Path.GetRelativePath(Repository.PathOf("."), doc))) data.Add(yaml);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Write_ReadsBackIntoTheSameDefinition(string yaml)
    {
        var original = ConfigReader.Read(yaml);
        Assert.True(original.Definition is not null, string.Join("\n", original.Errors));

        var written = ConfigWriter.Write(original.Definition!);
        var reread = ConfigReader.Read(written);

        Assert.True(reread.Definition is not null, written + "\n" + string.Join("\n", reread.Errors));
        Assert.Equal(DefinitionJson.ToStoredJson(original.Definition)!.ToJsonString(), DefinitionJson.ToStoredJson(reread.Definition)!.ToJsonString());
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("null")]
    [InlineData("")]
    [InlineData("a: b # not a comment, [not a list], {not a map}")]
    [InlineData("quote \" backslash \\ tab \t newline \n")]
    [InlineData("/var/lib/meshgate/café-ünïcode-✓")]
    [InlineData("<script>&'+")]
    public void Quoted_ReadsBackAsTheSameString(string value)
    {
        // The sidecar and the mesh demo write their configs as text with this quoting.
        var read = ConfigReader.Read($"admin: {{ address: 127.0.0.1:0 }}\nroutes: [{{ id: a, match: {{ path: /a }}, cluster: {YamlNodes.Quoted(value)} }}]\nclusters: [{{ id: {YamlNodes.Quoted(value)}, endpoints: [\"http://127.0.0.1:1\"] }}]\n");

        Assert.Equal(value, Assert.Single(read.Definition?.Routes ?? [], r => r.Id == "a").Cluster);
    }

    [Fact]
    public void Write_KeepsSecretsAndLeavesDefaultsOut()
    {
        var definition = ConfigReader.Read("admin: { token: a-token-of-sixteen-chars }\nlogging: { level: info }\nroutes: [{ id: a, match: { path: /a }, cluster: c }]\n").Definition!;

        var written = ConfigWriter.Write(definition);

        Assert.Contains("a-token-of-sixteen-chars", written);
        Assert.DoesNotContain(DefinitionJson.Redacted, written);
        Assert.DoesNotContain("level", written); // info is the default
        Assert.DoesNotContain("drainTimeout", written);
        Assert.StartsWith(ConfigWriter.Header, written);
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("true")]
    [InlineData("5")]
    [InlineData("a: b")]
    [InlineData("#x")]
    [InlineData("line\nbreak")]
    public void Write_StringsThatLookLikeOtherThings_ReadBackAsTheSameString(string value)
    {
        var definition = ConfigReader.Read("routes: [{ id: a, match: { path: /a }, cluster: c }]\n").Definition!;
        definition = definition with { Routes = [definition.Routes[0] with { Cluster = value }] };

        var reread = ConfigReader.Read(ConfigWriter.Write(definition));

        Assert.Equal(value, reread.Definition!.Routes[0].Cluster);
    }

    [Fact]
    public void ReadObject_FromJson_BindsLikeYamlAndReportsRelativePaths()
    {
        var (route, errors) = ConfigReader.ReadObject<RouteDefinition>(YamlNodes.FromJson(JsonNode.Parse("""{"id":"a","match":{"path":"/a","methods":["GET"]},"cluster":"c","order":2}""")));
        Assert.Empty(errors);
        Assert.Equal(("a", "/a", "c", 2), (route!.Id, route.Match!.Path, route.Cluster, route.Order));

        var (_, bad) = ConfigReader.ReadObject<RouteDefinition>(YamlNodes.FromJson(JsonNode.Parse("""{"id":"a","match":{"paht":"/a"},"order":"x"}""")));
        Assert.Contains(bad, e => e.Path == "match.paht" && e.Message.StartsWith("unknown key 'paht'", StringComparison.Ordinal));
        Assert.Contains(bad, e => e.Path == "order" && e.Message.Contains("expected a whole number", StringComparison.Ordinal));
    }
}
