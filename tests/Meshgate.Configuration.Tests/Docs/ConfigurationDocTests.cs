using System.Text.RegularExpressions;

namespace Meshgate.Configuration.Tests.Docs;

/// <summary>
/// docs/configuration.md promises that every ```yaml block is a whole, valid config file. Blocks that
/// are deliberately partial or need files on disk are fenced ```yaml-fragment and skipped here.
/// </summary>
public sealed partial class ConfigurationDocTests
{
    public static TheoryData<int> YamlBlocks => new(Enumerable.Range(0, Blocks().Count));

    [Fact]
    public void ConfigurationDoc_HasYamlExamples() => Assert.True(Blocks().Count >= 10, $"found only {Blocks().Count} ```yaml blocks");

    [Theory]
    [MemberData(nameof(YamlBlocks))]
    public void ConfigurationDoc_YamlBlock_LoadsWithoutErrors(int index)
    {
        var (line, yaml) = Blocks()[index];
        var result = ConfigLoader.Load(yaml, "configuration.md block", TestKit.TempDirectory.Create());
        Assert.True(result.Ok, $"docs/configuration.md, the ```yaml block at line {line}:\n" + string.Join("\n", result.Errors));
    }

    private static List<(int Line, string Yaml)> Blocks()
    {
        var text = File.ReadAllText(Repository.PathOf("docs/configuration.md")).ReplaceLineEndings("\n");
        return Fence().Matches(text)
            .Select(m => (text[..m.Index].Count(c => c == '\n') + 1, m.Groups["body"].Value))
            .ToList();
    }

    // Exactly "```yaml" on its own line; "```yaml-fragment" does not match.
    [GeneratedRegex(@"^```yaml\n(?<body>.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex Fence();
}
