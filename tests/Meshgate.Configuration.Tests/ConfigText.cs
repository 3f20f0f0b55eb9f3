using Meshgate.Configuration.Validation;

namespace Meshgate.Configuration.Tests;

/// <summary>Loads YAML the way the gateway does, under the file name the expected messages use.</summary>
internal static class ConfigText
{
    public const string FileName = "meshgate.yaml";

    /// <param name="baseDirectory">Where relative file paths resolve; a fresh empty directory by default.</param>
    public static IReadOnlyList<ConfigError> Errors(string yaml, string? baseDirectory = null) =>
        ConfigLoader.Load(yaml, FileName, baseDirectory ?? TestKit.TempDirectory.Create()).Errors;

    public static ConfigSnapshot Snapshot(string yaml, string? baseDirectory = null)
    {
        var result = ConfigLoader.Load(yaml, FileName, baseDirectory ?? TestKit.TempDirectory.Create());
        Assert.True(result.Ok, "expected a valid config, got:\n" + string.Join("\n", result.Errors));
        return result.Snapshot!;
    }

    /// <summary>
    /// The one error the YAML has: its line, path, a fragment of its message, and the
    /// file:line form `meshgate validate` prints.
    /// </summary>
    public static void AssertSingleError(string yaml, int? line, string path, string fragment, string? baseDirectory = null)
    {
        var errors = Errors(yaml, baseDirectory);
        var error = Assert.Single(errors);
        Assert.Equal(path, error.Path);
        Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        Assert.Equal(line, error.Line);
        var where = line is null ? FileName : $"{FileName}:{line}";
        Assert.StartsWith(path.Length == 0 ? $"{where} " : $"{where} {path}: ", error.ToString(), StringComparison.Ordinal);
    }
}

/// <summary>Files of the repository the tests check (examples, docs), found from the test assembly's location.</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Meshgate.slnx"))) return directory.FullName;
        }
        throw new InvalidOperationException($"no Meshgate.slnx above {AppContext.BaseDirectory}");
    }
}
