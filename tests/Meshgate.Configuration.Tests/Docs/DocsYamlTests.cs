using System.Text.RegularExpressions;

namespace Meshgate.Configuration.Tests.Docs;

/// <summary>
/// The docs promise that every ```yaml block (in README.md and docs/*.md) is a whole, valid config file
/// that can be copied as it is. Blocks that are deliberately partial or need files on disk are fenced
/// ```yaml-fragment and skipped here.
/// </summary>
public sealed partial class DocsYamlTests
{
    public static TheoryData<string, int> YamlBlocks()
    {
        var data = new TheoryData<string, int>();
        foreach (var file in Documents())
        {
            for (var i = 0; i < Blocks(file).Count; i++) data.Add(file, i);
        }
        return data;
    }

    [Fact]
    public void ConfigurationDoc_HasYamlExamples() => Assert.True(Blocks("docs/configuration.md").Count >= 10, $"found only {Blocks("docs/configuration.md").Count} ```yaml blocks");

    [Theory]
    [MemberData(nameof(YamlBlocks))]
    public void DocsYamlBlock_LoadsWithoutErrors(string file, int index)
    {
        var (line, yaml) = Blocks(file)[index];
        var result = ConfigLoader.Load(yaml, $"{file} block", TestKit.TempDirectory.Create());
        Assert.True(result.Ok, $"{file}, the ```yaml block at line {line}:\n" + string.Join("\n", result.Errors));
    }

    private static IEnumerable<string> Documents()
    {
        var root = Repository.PathOf(".");
        return Directory.GetFiles(Repository.PathOf("docs"), "*.md").Append(Repository.PathOf("README.md"))
            .Select(path => Path.GetRelativePath(root, path).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);
    }

    internal static List<(int Line, string Yaml)> Blocks(string file)
    {
        var text = File.ReadAllText(Repository.PathOf(file)).ReplaceLineEndings("\n");
        return Fence().Matches(text)
            .Select(m => (text[..m.Index].Count(c => c == '\n') + 1, m.Groups["body"].Value))
            .ToList();
    }

    // Exactly "```yaml" on its own line; "```yaml-fragment" does not match.
    [GeneratedRegex(@"^```yaml\n(?<body>.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex Fence();
}
