namespace Meshgate.Configuration.Tests;

public sealed class ConfigLoaderTests
{
    public static TheoryData<string> Examples => new(Directory.GetFiles(Repository.PathOf("examples"), "*.yaml").Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    [Theory]
    [MemberData(nameof(Examples))]
    public void LoadFile_Example_HasNoErrors(string name)
    {
        var result = ConfigLoader.LoadFile(Repository.PathOf(Path.Combine("examples", name)));
        Assert.True(result.Ok, $"examples/{name}:\n" + string.Join("\n", result.Errors));
    }

    [Fact]
    public void LoadFile_Missing_ReportsUnreadableFile()
    {
        var path = Path.Combine(TestKit.TempDirectory.Create(), "absent.yaml");
        var error = Assert.Single(ConfigLoader.LoadFile(path).Errors);
        Assert.StartsWith($"{path} cannot read the config file:", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SameText_SameVersion()
    {
        const string yaml = "listeners: [{ name: a, address: 127.0.0.1:8080 }]\n";
        Assert.Equal(ConfigText.Snapshot(yaml).Version, ConfigText.Snapshot(yaml).Version);
        Assert.NotEqual(ConfigText.Snapshot(yaml).Version, ConfigText.Snapshot(yaml + "# changed\n").Version);
    }
}
