using System.Text.Json.Nodes;
using Meshgate.Configuration.Schema;

namespace Meshgate.Configuration.Tests.Schema;

public sealed class ConfigSchemaTests
{
    [Fact]
    public void Generate_PublishedSchema_IsUpToDate()
    {
        var published = File.ReadAllText(Repository.PathOf("docs/meshgate.schema.json")).ReplaceLineEndings("\n");
        var generated = ConfigSchema.Generate().ReplaceLineEndings("\n");
        Assert.True(published == generated,
            "docs/meshgate.schema.json is out of date with the definition types. Regenerate it from the repository root with:\n" +
            "  dotnet run --project src/Meshgate -- schema > docs/meshgate.schema.json");
    }

    [Fact]
    public void Generate_EveryPropertyOfEveryObject_HasADescription()
    {
        var schema = JsonNode.Parse(ConfigSchema.Generate())!;
        var objects = new List<(string Name, JsonObject Schema)> { ("root", schema.AsObject()) };
        objects.AddRange(schema["$defs"]!.AsObject().Select(d => (d.Key, (JsonObject)(d.Value!["oneOf"]?[1] ?? d.Value!))));
        var undocumented = objects
            .SelectMany(o => o.Schema["properties"]!.AsObject().Where(p => p.Value!["description"] is null).Select(p => $"{o.Name}.{p.Key}"))
            .ToList();
        Assert.Empty(undocumented);
    }

    [Fact]
    public void Generate_RequiredKeysAndEnums_MatchTheReader()
    {
        var schema = JsonNode.Parse(ConfigSchema.Generate())!;
        Assert.Equal(["id", "match"], schema["$defs"]!["Route"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(["auto", "1.1", "2"], schema["$defs"]!["Cluster"]!["properties"]!["httpVersion"]!["enum"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("round-robin", schema["$defs"]!["Cluster"]!["properties"]!["loadBalancing"]!["default"]!.GetValue<string>());
        Assert.Equal("30s", schema["properties"]!["shutdown"]!["default"]?.GetValue<string>() ?? schema["$defs"]!["Shutdown"]!["properties"]!["drainTimeout"]!["default"]!.GetValue<string>());
        Assert.Equal("string", schema["$defs"]!["Endpoint"]!["oneOf"]![0]!["type"]!.GetValue<string>());
    }
}
